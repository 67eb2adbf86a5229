package fn

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// start calls clients directly, without a consumer interface.
func start(ctx context.Context, cfg aws.Config) {
	_, _ = secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{})
	q := sqs.NewFromConfig(cfg)
	_, _ = q.SendMessage(ctx, &sqs.SendMessageInput{})
}
