-- CreateTable
CREATE TABLE "Node" (
    "id" TEXT NOT NULL,
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
    "connectedAt" TIMESTAMP(3),
    "lastHeartbeatAt" TIMESTAMP(3),
    "lastSeq" INTEGER NOT NULL DEFAULT 0,
    "lastMetrics" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Node_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "NodeMetric" (
    "id" SERIAL NOT NULL,
    "nodeId" TEXT NOT NULL,
    "at" TIMESTAMP(3) NOT NULL,
    "cpuPct" DOUBLE PRECISION NOT NULL,
    "memUsedMb" DOUBLE PRECISION NOT NULL,
    "diskUsedGb" DOUBLE PRECISION NOT NULL,
    "netRx" DOUBLE PRECISION NOT NULL,
    "netTx" DOUBLE PRECISION NOT NULL,

    CONSTRAINT "NodeMetric_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "InstanceMetric" (
    "id" SERIAL NOT NULL,
    "instanceId" TEXT NOT NULL,
    "at" TIMESTAMP(3) NOT NULL,
    "cpuPct" DOUBLE PRECISION NOT NULL,
    "memUsedMb" DOUBLE PRECISION NOT NULL,
    "diskUsedGb" DOUBLE PRECISION NOT NULL,
    "netRx" DOUBLE PRECISION NOT NULL,
    "netTx" DOUBLE PRECISION NOT NULL,

    CONSTRAINT "InstanceMetric_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Job" (
    "id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "payload" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "targeted" BOOLEAN NOT NULL DEFAULT false,
    "nodeId" TEXT,
    "leaseExpiresAt" TIMESTAMP(3),
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "maxAttempts" INTEGER NOT NULL DEFAULT 5,
    "idempotencyKey" TEXT NOT NULL,
    "buildId" TEXT,
    "instanceId" TEXT,
    "phase" TEXT,
    "result" TEXT,
    "error" TEXT,
    "errorLine" INTEGER,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "Job_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Build" (
    "id" TEXT NOT NULL,
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
    "phaseDeadlineAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Build_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "BuildLog" (
    "id" SERIAL NOT NULL,
    "buildId" TEXT NOT NULL,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "line" TEXT NOT NULL,

    CONSTRAINT "BuildLog_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Deployment" (
    "id" TEXT NOT NULL,
    "owner" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "buildId" TEXT NOT NULL,
    "replicas" INTEGER NOT NULL,
    "notice" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Deployment_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Instance" (
    "id" TEXT NOT NULL,
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
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Instance_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "FormnetAddress" (
    "ip" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "ref" TEXT NOT NULL,
    "publicKey" TEXT,
    "endpoints" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "FormnetAddress_pkey" PRIMARY KEY ("ip")
);

-- CreateTable
CREATE TABLE "ControlLease" (
    "name" TEXT NOT NULL,
    "holder" TEXT NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ControlLease_pkey" PRIMARY KEY ("name")
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

-- AddForeignKey
ALTER TABLE "NodeMetric" ADD CONSTRAINT "NodeMetric_nodeId_fkey" FOREIGN KEY ("nodeId") REFERENCES "Node"("id") ON DELETE CASCADE ON UPDATE CASCADE;

