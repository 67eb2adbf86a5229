package apigw

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewayv2"
)

// API is what RoutesFromAPI needs from the API Gateway v2 client.
type API interface {
	GetRoutes(ctx context.Context, in *apigatewayv2.GetRoutesInput, optFns ...func(*apigatewayv2.Options)) (*apigatewayv2.GetRoutesOutput, error)
	GetIntegrations(ctx context.Context, in *apigatewayv2.GetIntegrationsInput, optFns ...func(*apigatewayv2.Options)) (*apigatewayv2.GetIntegrationsOutput, error)
}

var _ API = (*apigatewayv2.Client)(nil)

// ErrUnsupportedIntegration is returned by RoutesFromAPI for a route whose
// integration is not an AWS_PROXY Lambda integration with payload format 2.0.
var ErrUnsupportedIntegration = errors.New("unsupported integration")

// RoutesFromAPI reads the routes and integrations of a deployed HTTP API
// (what Terraform created, as the emulator reports it) and returns Routes
// whose Invoke is invokeFor(function name) and whose Timeout is the
// integration's TimeoutInMillis.
func RoutesFromAPI(ctx context.Context, api API, apiID string, invokeFor func(function string) (InvokeFunc, error)) ([]Route, error) {
	integrations := map[string]struct {
		function string
		timeout  time.Duration
		err      error
	}{}
	var token *string
	for {
		out, err := api.GetIntegrations(ctx, &apigatewayv2.GetIntegrationsInput{ApiId: aws.String(apiID), NextToken: token})
		if err != nil {
			return nil, fmt.Errorf("get integrations of api %s: %w", apiID, err)
		}
		for _, in := range out.Items {
			id := aws.ToString(in.IntegrationId)
			entry := integrations[id]
			entry.function = FunctionName(aws.ToString(in.IntegrationUri))
			entry.timeout = time.Duration(aws.ToInt32(in.TimeoutInMillis)) * time.Millisecond
			switch {
			case in.IntegrationType != "AWS_PROXY" || entry.function == "":
				entry.err = fmt.Errorf("integration %s (%s %s): %w", id, in.IntegrationType, aws.ToString(in.IntegrationUri), ErrUnsupportedIntegration)
			case aws.ToString(in.PayloadFormatVersion) != "2.0":
				entry.err = fmt.Errorf("integration %s: payload format %q: %w", id, aws.ToString(in.PayloadFormatVersion), ErrUnsupportedIntegration)
			}
			integrations[id] = entry
		}
		if token = out.NextToken; token == nil {
			break
		}
	}
	var routes []Route
	var errs []error
	token = nil
	for {
		out, err := api.GetRoutes(ctx, &apigatewayv2.GetRoutesInput{ApiId: aws.String(apiID), NextToken: token})
		if err != nil {
			return nil, fmt.Errorf("get routes of api %s: %w", apiID, err)
		}
		for _, rt := range out.Items {
			key := aws.ToString(rt.RouteKey)
			id, ok := strings.CutPrefix(aws.ToString(rt.Target), "integrations/")
			in, found := integrations[id]
			switch {
			case !ok || !found:
				errs = append(errs, fmt.Errorf("route %q: target %q is not an integration of the api", key, aws.ToString(rt.Target)))
				continue
			case in.err != nil:
				errs = append(errs, fmt.Errorf("route %q: %w", key, in.err))
				continue
			}
			inv, err := invokeFor(in.function)
			if err != nil {
				errs = append(errs, fmt.Errorf("route %q: function %s: %w", key, in.function, err))
				continue
			}
			routes = append(routes, Route{Key: key, Invoke: inv, Timeout: in.timeout})
		}
		if token = out.NextToken; token == nil {
			break
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return routes, nil
}

// FunctionName returns the function name in a Lambda ARN, a Lambda invoke
// URI (arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<arn>/invocations)
// or a plain name; "" if uri names no function.
func FunctionName(uri string) string {
	if i := strings.LastIndex(uri, ":function:"); i >= 0 {
		name := uri[i+len(":function:"):]
		if j := strings.IndexAny(name, ":/"); j >= 0 {
			name = name[:j]
		}
		return name
	}
	if uri != "" && !strings.ContainsAny(uri, ":/") {
		return uri
	}
	return ""
}
