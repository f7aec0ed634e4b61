export default function HomePage() {
  return (
    <main className="mx-auto max-w-3xl p-8">
      <h1 className="text-3xl font-semibold tracking-tight">Formation</h1>
      <p className="mt-2 text-slate-600 dark:text-slate-400">
        Sign in with your wallet, upload a Formfile, and get redundant VMs on formnet.
      </p>
    </main>
  );
}
