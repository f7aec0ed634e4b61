/** @type {import('next').NextConfig} */
const nextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // Server-only packages with native parts or dynamic requires stay external to the server bundle.
  serverExternalPackages: ["better-sqlite3", "ssh2", "pino", "ws", "@prisma/client", "pg"],
  typedRoutes: false,
  devIndicators: false,
};

export default nextConfig;
