-- CreateTable
CREATE TABLE "ContextUpload" (
    "digest" TEXT NOT NULL,
    "owner" TEXT NOT NULL,
    "sizeBytes" BIGINT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ContextUpload_pkey" PRIMARY KEY ("digest","owner")
);

-- CreateIndex
CREATE INDEX "ContextUpload_owner_idx" ON "ContextUpload"("owner");

-- CreateIndex
CREATE INDEX "Build_contextDigest_idx" ON "Build"("contextDigest");

-- CreateIndex
CREATE INDEX "Build_imageDigest_idx" ON "Build"("imageDigest");

-- CreateIndex
CREATE INDEX "Instance_imageDigest_idx" ON "Instance"("imageDigest");

-- Written by hand (issue #23): consoles before this migration accepted any WireGuard key, so a
-- key may be held twice. Keep one holder per key before the unique index: a node keeps its key,
-- otherwise the earliest member does (ties by address), and the others must join with a new key.
DELETE FROM "FormnetAddress"
WHERE "publicKey" IS NOT NULL AND EXISTS (
    SELECT 1 FROM "FormnetAddress" AS "keeper"
    WHERE "keeper"."publicKey" = "FormnetAddress"."publicKey"
      AND "keeper"."ip" <> "FormnetAddress"."ip"
      AND (
        ("keeper"."kind" = 'node' AND "FormnetAddress"."kind" <> 'node')
        OR (
          ("keeper"."kind" = 'node') = ("FormnetAddress"."kind" = 'node')
          AND (
            "keeper"."createdAt" < "FormnetAddress"."createdAt"
            OR ("keeper"."createdAt" = "FormnetAddress"."createdAt" AND "keeper"."ip" < "FormnetAddress"."ip")
          )
        )
      )
);

-- CreateIndex
CREATE UNIQUE INDEX "FormnetAddress_publicKey_key" ON "FormnetAddress"("publicKey");

