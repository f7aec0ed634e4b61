-- AlterTable
ALTER TABLE "Build" ADD COLUMN "baseDigest" TEXT;

-- CreateIndex
CREATE INDEX "Build_baseDigest_idx" ON "Build"("baseDigest");

