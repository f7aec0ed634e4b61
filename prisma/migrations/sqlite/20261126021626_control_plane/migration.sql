-- CreateTable
CREATE TABLE "Node" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "operator" TEXT NOT NULL,
    "region" TEXT NOT NULL,
    "accel" TEXT NOT NULL,
    "vcpu" INTEGER NOT NULL,
    "memoryMb" INTEGER NOT NULL,
    "diskGb" INTEGER NOT NULL,
    "wgPublicKey" TEXT NOT NULL,
    "listenPort" INTEGER NOT NULL,
    "endpoints" TEXT NOT NULL,
    "formnetIp" TEXT,
    "status" TEXT NOT NULL,
    "statusReason" TEXT,
    "agentVersion" TEXT NOT NULL,
    "protocolVersion" INTEGER NOT NULL,
    "consoleId" TEXT,
    "agentTokenHash" TEXT,
    "connectedAt" DATETIME,
    "lastHeartbeatAt" DATETIME,
    "lastSeq" INTEGER NOT NULL DEFAULT 0,
    "lastMetrics" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "NodeMetric" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "nodeId" TEXT NOT NULL,
    "at" DATETIME NOT NULL,
    "cpuPct" REAL NOT NULL,
    "memUsedMb" REAL NOT NULL,
    "diskUsedGb" REAL NOT NULL,
    "netRx" REAL NOT NULL,
    "netTx" REAL NOT NULL,
    CONSTRAINT "NodeMetric_nodeId_fkey" FOREIGN KEY ("nodeId") REFERENCES "Node" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "InstanceMetric" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "instanceId" TEXT NOT NULL,
    "at" DATETIME NOT NULL,
    "cpuPct" REAL NOT NULL,
    "memUsedMb" REAL NOT NULL,
    "diskUsedGb" REAL NOT NULL,
    "netRx" REAL NOT NULL,
    "netTx" REAL NOT NULL
);

-- CreateTable
CREATE TABLE "Job" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "kind" TEXT NOT NULL,
    "payload" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "targeted" BOOLEAN NOT NULL DEFAULT false,
    "nodeId" TEXT,
    "leaseExpiresAt" DATETIME,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "maxAttempts" INTEGER NOT NULL DEFAULT 5,
    "idempotencyKey" TEXT NOT NULL,
    "buildId" TEXT,
    "instanceId" TEXT,
    "phase" TEXT,
    "result" TEXT,
    "error" TEXT,
    "errorLine" INTEGER,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    "finishedAt" DATETIME
);

-- CreateTable
CREATE TABLE "Build" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "owner" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "formfile" TEXT NOT NULL,
    "contextDigest" TEXT NOT NULL,
    "contextSizeBytes" INTEGER NOT NULL,
    "status" TEXT NOT NULL,
    "timeline" TEXT NOT NULL,
    "failureReason" TEXT,
    "failureLine" INTEGER,
    "imageDigest" TEXT,
    "imageSizeBytes" INTEGER,
    "nodeId" TEXT,
    "jobId" TEXT,
    "phaseDeadlineAt" DATETIME,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "BuildLog" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "buildId" TEXT NOT NULL,
    "at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "line" TEXT NOT NULL
);

-- CreateTable
CREATE TABLE "Deployment" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "owner" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "buildId" TEXT NOT NULL,
    "replicas" INTEGER NOT NULL,
    "notice" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "Instance" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "deploymentId" TEXT NOT NULL,
    "buildId" TEXT NOT NULL,
    "owner" TEXT NOT NULL,
    "nodeId" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "desired" TEXT NOT NULL,
    "reason" TEXT,
    "formnetIp" TEXT,
    "imageDigest" TEXT NOT NULL,
    "vcpu" INTEGER NOT NULL,
    "memoryMb" INTEGER NOT NULL,
    "diskGb" INTEGER NOT NULL,
    "lastMetrics" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "FormnetAddress" (
    "ip" TEXT NOT NULL PRIMARY KEY,
    "kind" TEXT NOT NULL,
    "ref" TEXT NOT NULL,
    "publicKey" TEXT,
    "endpoints" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateTable
CREATE TABLE "ControlLease" (
    "name" TEXT NOT NULL PRIMARY KEY,
    "holder" TEXT NOT NULL,
    "expiresAt" DATETIME NOT NULL
);

-- CreateIndex
CREATE UNIQUE INDEX "Node_wgPublicKey_key" ON "Node"("wgPublicKey");

-- CreateIndex
CREATE UNIQUE INDEX "Node_formnetIp_key" ON "Node"("formnetIp");

-- CreateIndex
CREATE UNIQUE INDEX "Node_agentTokenHash_key" ON "Node"("agentTokenHash");

-- CreateIndex
CREATE INDEX "Node_operator_idx" ON "Node"("operator");

-- CreateIndex
CREATE INDEX "Node_status_idx" ON "Node"("status");

-- CreateIndex
CREATE INDEX "NodeMetric_nodeId_at_idx" ON "NodeMetric"("nodeId", "at");

-- CreateIndex
CREATE INDEX "NodeMetric_at_idx" ON "NodeMetric"("at");

-- CreateIndex
CREATE INDEX "InstanceMetric_instanceId_at_idx" ON "InstanceMetric"("instanceId", "at");

-- CreateIndex
CREATE INDEX "InstanceMetric_at_idx" ON "InstanceMetric"("at");

-- CreateIndex
CREATE UNIQUE INDEX "Job_idempotencyKey_key" ON "Job"("idempotencyKey");

-- CreateIndex
CREATE INDEX "Job_state_nodeId_idx" ON "Job"("state", "nodeId");

-- CreateIndex
CREATE INDEX "Job_state_leaseExpiresAt_idx" ON "Job"("state", "leaseExpiresAt");

-- CreateIndex
CREATE INDEX "Job_buildId_idx" ON "Job"("buildId");

-- CreateIndex
CREATE INDEX "Job_instanceId_idx" ON "Job"("instanceId");

-- CreateIndex
CREATE INDEX "Build_owner_name_idx" ON "Build"("owner", "name");

-- CreateIndex
CREATE INDEX "Build_status_idx" ON "Build"("status");

-- CreateIndex
CREATE INDEX "BuildLog_buildId_id_idx" ON "BuildLog"("buildId", "id");

-- CreateIndex
CREATE UNIQUE INDEX "Deployment_owner_name_key" ON "Deployment"("owner", "name");

-- CreateIndex
CREATE UNIQUE INDEX "Instance_formnetIp_key" ON "Instance"("formnetIp");

-- CreateIndex
CREATE INDEX "Instance_deploymentId_idx" ON "Instance"("deploymentId");

-- CreateIndex
CREATE INDEX "Instance_nodeId_idx" ON "Instance"("nodeId");

-- CreateIndex
CREATE INDEX "Instance_owner_idx" ON "Instance"("owner");

-- CreateIndex
CREATE INDEX "Instance_buildId_idx" ON "Instance"("buildId");

-- CreateIndex
CREATE UNIQUE INDEX "FormnetAddress_ref_key" ON "FormnetAddress"("ref");

