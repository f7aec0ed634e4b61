-- CreateTable
CREATE TABLE "BuildCommitment" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "deploymentId" TEXT NOT NULL,
    "owner" TEXT NOT NULL,
    "buildId" TEXT NOT NULL,
    "imageDigest" TEXT NOT NULL,
    "chainId" INTEGER NOT NULL,
    "contract" TEXT NOT NULL,
    "nonce" TEXT NOT NULL,
    "deadline" INTEGER NOT NULL,
    "signature" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "txHash" TEXT,
    "blockNumber" INTEGER,
    "existing" BOOLEAN NOT NULL DEFAULT false,
    "reason" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);

-- CreateIndex
CREATE INDEX "BuildCommitment_deploymentId_idx" ON "BuildCommitment"("deploymentId");

-- CreateIndex
CREATE INDEX "BuildCommitment_owner_buildId_idx" ON "BuildCommitment"("owner", "buildId");

