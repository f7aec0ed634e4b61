-- AlterTable
ALTER TABLE "Instance" ADD COLUMN     "placement" TEXT;

