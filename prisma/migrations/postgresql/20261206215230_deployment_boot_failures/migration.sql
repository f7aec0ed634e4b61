-- AlterTable
ALTER TABLE "Deployment" ADD COLUMN     "bootFailures" INTEGER NOT NULL DEFAULT 0;

