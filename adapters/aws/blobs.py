"""Blobs on S3: payloads too large to sit inline in an event (already encrypted by the engine).

Objects up to `MULTIPART_THRESHOLD` take one PutObject; larger ones a multipart upload of
`PART_BYTES` parts (aborted on failure, so nothing half-written stays visible). Size limits
(50 MB per payload, 2 GB per run) are the engine's to enforce before anything is written.
"""

from __future__ import annotations

from typing import Any

from .clients import AwsClients, error_code

MULTIPART_THRESHOLD = 8 * 1024 * 1024
PART_BYTES = 8 * 1024 * 1024
LIST_PAGE = 1000  # ListObjectsV2 and DeleteObjects take at most 1,000 keys


class S3BlobStore:
    def __init__(self, aws: AwsClients) -> None:
        self._aws = aws
        self._bucket = aws.config.bucket

    async def put(self, key: str, data: bytes) -> None:
        await self._aws.call(self.put_sync, key, bytes(data))

    async def get(self, key: str) -> bytes:
        return await self._aws.call(self.get_sync, key)

    async def delete_prefix(self, prefix: str) -> int:
        return await self._aws.call(self._delete_prefix_sync, prefix)

    # --- blocking versions, also used by the other stores from the client pool ----------

    def put_sync(self, key: str, data: bytes) -> None:
        s3 = self._aws.s3
        if len(data) <= MULTIPART_THRESHOLD:
            s3.put_object(Bucket=self._bucket, Key=key, Body=data)
            return
        upload_id = s3.create_multipart_upload(Bucket=self._bucket, Key=key)["UploadId"]
        try:
            parts: list[dict[str, Any]] = []
            for number, offset in enumerate(range(0, len(data), PART_BYTES), start=1):
                answer = s3.upload_part(
                    Bucket=self._bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=data[offset : offset + PART_BYTES],
                )
                parts.append({"PartNumber": number, "ETag": answer["ETag"]})
            s3.complete_multipart_upload(
                Bucket=self._bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            s3.abort_multipart_upload(Bucket=self._bucket, Key=key, UploadId=upload_id)
            raise

    def get_sync(self, key: str) -> bytes:
        try:
            answer = self._aws.s3.get_object(Bucket=self._bucket, Key=key)
        except Exception as error:
            if error_code(error) in ("NoSuchKey", "404"):
                raise KeyError(f"no blob with key {key!r}") from None
            raise
        return answer["Body"].read()

    def _delete_prefix_sync(self, prefix: str) -> int:
        s3 = self._aws.s3
        deleted = 0
        request: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix, "MaxKeys": LIST_PAGE}
        while True:
            page = s3.list_objects_v2(**request)
            keys = [{"Key": entry["Key"]} for entry in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=self._bucket, Delete={"Objects": keys, "Quiet": True})
                deleted += len(keys)
            if not page.get("IsTruncated"):
                return deleted
            request["ContinuationToken"] = page["NextContinuationToken"]
