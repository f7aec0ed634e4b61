"use client";
import { type DragEvent, useState } from "react";
import type { TContextFile } from "../../_lib/context-pack";
import { formatBytes } from "../../_lib/format";

/** What the user gave as build context: a folder's files, a ready tarball, or nothing (Formfile only). */
export type TContextSource =
  | { kind: "none" }
  | { kind: "files"; label: string; files: TContextFile[] }
  | { kind: "tarball"; label: string; bytes: Uint8Array; paths: string[] };

type TFileSystemEntry = {
  isFile: boolean;
  isDirectory: boolean;
  name: string;
  fullPath: string;
  file?: (ok: (f: File) => void, fail: (e: unknown) => void) => void;
  createReader?: () => {
    readEntries: (ok: (e: TFileSystemEntry[]) => void, fail: (e: unknown) => void) => void;
  };
};

async function readEntry(entry: TFileSystemEntry, out: TContextFile[], root: string): Promise<void> {
  if (entry.isFile && entry.file) {
    const read = entry.file.bind(entry);
    const file = await new Promise<File>((ok, fail) => read(ok, fail));
    const path = entry.fullPath.replace(/^\/+/, "");
    out.push({
      path: root && path.startsWith(`${root}/`) ? path.slice(root.length + 1) : path,
      data: new Uint8Array(await file.arrayBuffer()),
    });
    return;
  }
  if (entry.isDirectory && entry.createReader) {
    const reader = entry.createReader();
    // readEntries returns batches (100 in Chromium) until it returns an empty one.
    for (;;) {
      const batch = await new Promise<TFileSystemEntry[]>((ok, fail) => reader.readEntries(ok, fail));
      if (batch.length === 0) break;
      for (const child of batch) await readEntry(child, out, root);
    }
  }
}

const isTarball = (name: string) => /\.(tar\.gz|tgz|tar)$/i.test(name);

/**
 * Drop zone for the build context: a project folder (drag and drop or the folder picker), a
 * .tar.gz, or a lone Formfile. Reading happens in the browser; nothing is uploaded until signing.
 */
export function ContextDrop(props: {
  source: TContextSource;
  onSource: (s: TContextSource) => void;
  onFormfileText: (text: string) => void;
}) {
  const [over, setOver] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const acceptFiles = async (files: TContextFile[], label: string) => {
    const formfile = files.find((f) => f.path === "Formfile");
    if (formfile) props.onFormfileText(new TextDecoder().decode(formfile.data));
    props.onSource({ kind: "files", label, files });
  };

  const acceptSingle = async (file: File) => {
    const bytes = new Uint8Array(await file.arrayBuffer());
    if (isTarball(file.name)) {
      const { listTarballPaths, readFileFromTarball } = await import("../../_lib/context-pack");
      const formfile = await readFileFromTarball(bytes, "Formfile");
      if (formfile) props.onFormfileText(new TextDecoder().decode(formfile));
      props.onSource({ kind: "tarball", label: file.name, bytes, paths: await listTarballPaths(bytes) });
      return;
    }
    // A lone file is taken as the Formfile: the context is then the Formfile alone.
    props.onFormfileText(new TextDecoder().decode(bytes));
    props.onSource({ kind: "none" });
  };

  const onDrop = async (e: DragEvent<HTMLElement>) => {
    e.preventDefault();
    setOver(false);
    setError(null);
    try {
      const items = [...e.dataTransfer.items];
      const entries = items
        .map((i) => (i.webkitGetAsEntry?.() ?? null) as TFileSystemEntry | null)
        .filter((x): x is TFileSystemEntry => x !== null);
      const first = entries[0];
      if (entries.length === 1 && first?.isDirectory) {
        const files: TContextFile[] = [];
        await readEntry(first, files, first.name);
        await acceptFiles(files, `${first.name}/`);
        return;
      }
      const dropped = [...e.dataTransfer.files];
      if (dropped.length === 1 && dropped[0]) return acceptSingle(dropped[0]);
      const files: TContextFile[] = [];
      for (const entry of entries) await readEntry(entry, files, "");
      await acceptFiles(files, `${files.length} files`);
    } catch (cause) {
      setError(`Could not read what you dropped: ${cause instanceof Error ? cause.message : String(cause)}`);
    }
  };

  const onFolderPicked = async (list: FileList | null) => {
    if (!list || list.length === 0) return;
    const files: TContextFile[] = [];
    let root = "";
    for (const file of list) {
      const rel = file.webkitRelativePath || file.name;
      root = rel.split("/")[0] ?? "";
      files.push({
        path: rel.split("/").slice(1).join("/") || rel,
        data: new Uint8Array(await file.arrayBuffer()),
      });
    }
    await acceptFiles(files, `${root}/`);
  };

  const summary =
    props.source.kind === "files"
      ? `${props.source.label} — ${props.source.files.length} files, ${formatBytes(props.source.files.reduce((n, f) => n + f.data.length, 0))}`
      : props.source.kind === "tarball"
        ? `${props.source.label} — ${formatBytes(props.source.bytes.length)}`
        : "No project attached: the build context is the Formfile alone.";

  return (
    <section
      data-testid="context-drop"
      aria-label="Build context"
      onDragOver={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(e) => void onDrop(e)}
      className={`rounded-lg border-2 border-dashed p-4 text-sm transition-colors ${
        over ? "border-sky-500 bg-sky-50 dark:bg-sky-950/40" : "border-slate-300 dark:border-slate-700"
      }`}
    >
      <p className="font-medium">Build context</p>
      <p className="mt-1 text-slate-600 dark:text-slate-400">
        Drop a project folder, a <code>.tar.gz</code>, or a Formfile here. A <code>Formfile</code> at the
        folder&apos;s top is loaded into the editor; <code>.formignore</code> is honoured.
      </p>
      <div className="mt-3 flex flex-wrap gap-2">
        <label className="cursor-pointer rounded-md border border-slate-300 px-3 py-1.5 hover:bg-slate-50 dark:border-slate-700 dark:hover:bg-slate-900">
          Choose folder…
          <input
            type="file"
            className="sr-only"
            {...({ webkitdirectory: "" } as Record<string, string>)}
            onChange={(e) => void onFolderPicked(e.target.files)}
          />
        </label>
        <label className="cursor-pointer rounded-md border border-slate-300 px-3 py-1.5 hover:bg-slate-50 dark:border-slate-700 dark:hover:bg-slate-900">
          Choose file…
          <input
            type="file"
            className="sr-only"
            data-testid="context-file-input"
            accept=".tar.gz,.tgz,.tar,Formfile,text/plain"
            onChange={(e) => {
              const f = e.target.files?.[0];
              if (f) void acceptSingle(f);
            }}
          />
        </label>
        {props.source.kind !== "none" ? (
          <button
            type="button"
            className="px-2 text-slate-500 hover:underline"
            onClick={() => props.onSource({ kind: "none" })}
          >
            Remove
          </button>
        ) : null}
      </div>
      <p className="mt-3 text-slate-700 dark:text-slate-300" data-testid="context-summary">
        {summary}
      </p>
      {error ? (
        <p role="alert" className="mt-2 text-red-600">
          {error}
        </p>
      ) : null}
    </section>
  );
}
