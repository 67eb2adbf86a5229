# Fixture: fanout reads the stream without kms:Decrypt on kms.kinesis,
# ingest got Decrypt instead of GenerateDataKey, nobody is granted kms.s3,
# and one statement has no ViaService / encryption context.
variable "kms" {
  description = "Keys."
  type = object({
    kinesis = optional(string)
    s3      = optional(string)
    logs    = optional(string)
  })
  default = {}
}

locals {
  function_permissions = {
    ingest = [
      { sid = "PutRecords", actions = ["kinesis:PutRecords"], resources = [aws_kinesis_stream.this.arn] },
    ]
    fanout = [
      { sid = "ReadStream", actions = ["kinesis:GetRecords"], resources = [aws_kinesis_stream.this.arn] },
    ]
  }
  kms_permissions = {
    ingest = [
      { sid = "KinesisKey", key = "kinesis", service = "kinesis", actions = ["kms:Decrypt"], context = "aws:kinesis:arn", values = [] },
    ]
    fanout = [
      { sid = "Other", key = "kinesis", actions = ["kms:GenerateDataKey"], values = [] },
    ]
  }
}
