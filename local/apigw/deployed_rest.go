package apigw

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
)

// RESTAPI is what RESTFromAPI needs from the API Gateway (v1) client.
type RESTAPI interface {
	GetRestApi(ctx context.Context, in *apigateway.GetRestApiInput, optFns ...func(*apigateway.Options)) (*apigateway.GetRestApiOutput, error)
	GetResources(ctx context.Context, in *apigateway.GetResourcesInput, optFns ...func(*apigateway.Options)) (*apigateway.GetResourcesOutput, error)
	GetIntegration(ctx context.Context, in *apigateway.GetIntegrationInput, optFns ...func(*apigateway.Options)) (*apigateway.GetIntegrationOutput, error)
}

var _ RESTAPI = (*apigateway.Client)(nil)

// RESTFromAPI reads a deployed REST API (what Terraform created, as the
// emulator reports it) and returns the Config of a KindREST Gateway for
// stage: its binaryMediaTypes, and one Route per resource method ("ANY
// /{proxy+}") whose Invoke is invokeFor(function name) and whose Timeout is
// the integration's timeoutInMillis. Only AWS_PROXY Lambda integrations are
// supported (ErrUnsupportedIntegration).
func RESTFromAPI(ctx context.Context, api RESTAPI, apiID, stage string, invokeFor func(function string) (InvokeFunc, error)) (Config, error) {
	ra, err := api.GetRestApi(ctx, &apigateway.GetRestApiInput{RestApiId: aws.String(apiID)})
	if err != nil {
		return Config{}, fmt.Errorf("get rest api %s: %w", apiID, err)
	}
	cfg := Config{Kind: KindREST, APIID: apiID, Stage: stage, BinaryMediaTypes: ra.BinaryMediaTypes}
	var errs []error
	var position *string
	for {
		out, err := api.GetResources(ctx, &apigateway.GetResourcesInput{RestApiId: aws.String(apiID), Position: position, Embed: []string{"methods"}})
		if err != nil {
			return Config{}, fmt.Errorf("get resources of rest api %s: %w", apiID, err)
		}
		for _, res := range out.Items {
			methods := make([]string, 0, len(res.ResourceMethods))
			for m := range res.ResourceMethods {
				methods = append(methods, m)
			}
			sort.Strings(methods)
			for _, m := range methods {
				key := m + " " + aws.ToString(res.Path)
				in, err := api.GetIntegration(ctx, &apigateway.GetIntegrationInput{RestApiId: aws.String(apiID), ResourceId: res.Id, HttpMethod: aws.String(m)})
				if err != nil {
					errs = append(errs, fmt.Errorf("resource %q: get integration: %w", key, err))
					continue
				}
				fn := FunctionName(aws.ToString(in.Uri))
				if in.Type != "AWS_PROXY" || fn == "" {
					errs = append(errs, fmt.Errorf("resource %q: integration %s %s: %w", key, in.Type, aws.ToString(in.Uri), ErrUnsupportedIntegration))
					continue
				}
				inv, err := invokeFor(fn)
				if err != nil {
					errs = append(errs, fmt.Errorf("resource %q: function %s: %w", key, fn, err))
					continue
				}
				timeout := time.Duration(in.TimeoutInMillis) * time.Millisecond
				cfg.Routes = append(cfg.Routes, Route{Key: key, Invoke: inv, Timeout: timeout})
			}
		}
		if position = out.Position; position == nil {
			break
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return cfg, nil
}
