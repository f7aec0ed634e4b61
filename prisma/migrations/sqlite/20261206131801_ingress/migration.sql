-- CreateTable
CREATE TABLE "InstanceHealth" (
    "instanceId" TEXT NOT NULL PRIMARY KEY,
    "deploymentId" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "check" TEXT NOT NULL,
    "since" DATETIME NOT NULL,
    "lastCheckAt" DATETIME,
    "lastOkAt" DATETIME,
    "failures" TEXT NOT NULL DEFAULT '[]',
    "restarts" INTEGER NOT NULL DEFAULT 0,
    "lastRestartAt" DATETIME,
    "action" TEXT,
    "updatedAt" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "AppDomain" (
    "domain" TEXT NOT NULL,
    "owner" TEXT NOT NULL,
    "deploymentId" TEXT NOT NULL,
    "port" INTEGER,
    "status" TEXT NOT NULL,
    "token" TEXT NOT NULL,
    "verifiedAt" DATETIME,
    "verifiedDomain" TEXT,
    "lastError" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,

    PRIMARY KEY ("domain", "owner")
);

-- CreateTable
CREATE TABLE "TlsCertificate" (
    "domain" TEXT NOT NULL PRIMARY KEY,
    "certificate" TEXT NOT NULL,
    "keyCiphertext" TEXT NOT NULL,
    "notAfter" DATETIME NOT NULL,
    "issuer" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "AcmeChallenge" (
    "token" TEXT NOT NULL PRIMARY KEY,
    "keyAuthorization" TEXT NOT NULL,
    "domain" TEXT NOT NULL,
    "expiresAt" DATETIME NOT NULL
);

-- CreateIndex
CREATE INDEX "InstanceHealth_deploymentId_idx" ON "InstanceHealth"("deploymentId");

-- CreateIndex
CREATE UNIQUE INDEX "AppDomain_verifiedDomain_key" ON "AppDomain"("verifiedDomain");

-- CreateIndex
CREATE INDEX "AppDomain_owner_idx" ON "AppDomain"("owner");

-- CreateIndex
CREATE INDEX "AppDomain_deploymentId_idx" ON "AppDomain"("deploymentId");

