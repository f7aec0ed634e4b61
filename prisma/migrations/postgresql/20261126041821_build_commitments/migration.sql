-- CreateTable
CREATE TABLE "BuildCommitment" (
    "id" TEXT NOT NULL,
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
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "BuildCommitment_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "BuildCommitment_deploymentId_idx" ON "BuildCommitment"("deploymentId");

-- CreateIndex
CREATE INDEX "BuildCommitment_owner_buildId_idx" ON "BuildCommitment"("owner", "buildId");

