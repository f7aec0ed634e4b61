-- CreateTable
CREATE TABLE "InstanceHealth" (
    "instanceId" TEXT NOT NULL,
    "deploymentId" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "check" TEXT NOT NULL,
    "since" TIMESTAMP(3) NOT NULL,
    "lastCheckAt" TIMESTAMP(3),
    "lastOkAt" TIMESTAMP(3),
    "failures" TEXT NOT NULL DEFAULT '[]',
    "restarts" INTEGER NOT NULL DEFAULT 0,
    "lastRestartAt" TIMESTAMP(3),
    "action" TEXT,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "InstanceHealth_pkey" PRIMARY KEY ("instanceId")
);

-- CreateTable
CREATE TABLE "AppDomain" (
    "domain" TEXT NOT NULL,
    "owner" TEXT NOT NULL,
    "deploymentId" TEXT NOT NULL,
    "port" INTEGER,
    "status" TEXT NOT NULL,
    "token" TEXT NOT NULL,
    "verifiedAt" TIMESTAMP(3),
    "verifiedDomain" TEXT,
    "lastError" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "AppDomain_pkey" PRIMARY KEY ("domain","owner")
);

-- CreateTable
CREATE TABLE "TlsCertificate" (
    "domain" TEXT NOT NULL,
    "certificate" TEXT NOT NULL,
    "keyCiphertext" TEXT NOT NULL,
    "notAfter" TIMESTAMP(3) NOT NULL,
    "issuer" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "TlsCertificate_pkey" PRIMARY KEY ("domain")
);

-- CreateTable
CREATE TABLE "AcmeChallenge" (
    "token" TEXT NOT NULL,
    "keyAuthorization" TEXT NOT NULL,
    "domain" TEXT NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "AcmeChallenge_pkey" PRIMARY KEY ("token")
);

-- CreateIndex
CREATE INDEX "InstanceHealth_deploymentId_idx" ON "InstanceHealth"("deploymentId");

-- CreateIndex
CREATE UNIQUE INDEX "AppDomain_verifiedDomain_key" ON "AppDomain"("verifiedDomain");

-- CreateIndex
CREATE INDEX "AppDomain_owner_idx" ON "AppDomain"("owner");

-- CreateIndex
CREATE INDEX "AppDomain_deploymentId_idx" ON "AppDomain"("deploymentId");

