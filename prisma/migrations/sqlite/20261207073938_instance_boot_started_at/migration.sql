-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Instance" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "deploymentId" TEXT NOT NULL,
    "buildId" TEXT NOT NULL,
    "owner" TEXT NOT NULL,
    "nodeId" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "desired" TEXT NOT NULL,
    "reason" TEXT,
    "placement" TEXT,
    "formnetIp" TEXT,
    "imageDigest" TEXT NOT NULL,
    "vcpu" INTEGER NOT NULL,
    "memoryMb" INTEGER NOT NULL,
    "diskGb" INTEGER NOT NULL,
    "lastMetrics" TEXT,
    "bootStartedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);
INSERT INTO "new_Instance" ("buildId", "createdAt", "deploymentId", "desired", "diskGb", "formnetIp", "id", "imageDigest", "lastMetrics", "memoryMb", "nodeId", "owner", "placement", "reason", "status", "updatedAt", "vcpu") SELECT "buildId", "createdAt", "deploymentId", "desired", "diskGb", "formnetIp", "id", "imageDigest", "lastMetrics", "memoryMb", "nodeId", "owner", "placement", "reason", "status", "updatedAt", "vcpu" FROM "Instance";
DROP TABLE "Instance";
ALTER TABLE "new_Instance" RENAME TO "Instance";
CREATE UNIQUE INDEX "Instance_formnetIp_key" ON "Instance"("formnetIp");
CREATE INDEX "Instance_deploymentId_idx" ON "Instance"("deploymentId");
CREATE INDEX "Instance_nodeId_idx" ON "Instance"("nodeId");
CREATE INDEX "Instance_owner_idx" ON "Instance"("owner");
CREATE INDEX "Instance_buildId_idx" ON "Instance"("buildId");
CREATE INDEX "Instance_imageDigest_idx" ON "Instance"("imageDigest");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

