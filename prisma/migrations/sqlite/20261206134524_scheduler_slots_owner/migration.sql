-- AlterTable
ALTER TABLE "Node" ADD COLUMN "jobSlots" INTEGER;

-- AlterTable
ALTER TABLE "Job" ADD COLUMN "owner" TEXT;

-- CreateIndex
CREATE INDEX "Job_state_targeted_owner_idx" ON "Job"("state", "targeted", "owner");

