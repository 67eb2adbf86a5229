package apigw

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	apigwtypes "github.com/aws/aws-sdk-go-v2/service/apigateway/types"
	"github.com/aws/aws-sdk-go-v2/service/apigatewayv2"
	apitypes "github.com/aws/aws-sdk-go-v2/service/apigatewayv2/types"

	"github.com/spillwayhq/spillway/local/edge"
	"github.com/spillwayhq/spillway/local/moto"
)

func TestFunctionName(t *testing.T) {
	tests := map[string]string{
		"arn:aws:lambda:us-east-1:000000000000:function:sp-ingest":                                                                           "sp-ingest",
		"arn:aws:lambda:us-east-1:000000000000:function:sp-ingest:live":                                                                      "sp-ingest",
		"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:sp-ingest/invocations": "sp-ingest",
		"sp-ingest":             "sp-ingest",
		"https://example.com/x": "",
		"":                      "",
	}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			if got := FunctionName(in); got != want {
				t.Fatalf("FunctionName(%q) = %q, want %q", in, got, want)
			}
		})
	}
}

// startMoto starts a moto server for the test, and a context bounding it.
func startMoto(t *testing.T) (context.Context, *moto.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	srv, err := moto.Start(ctx, moto.Options{})
	if err != nil {
		t.Fatalf("start moto: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return ctx, srv
}

// invokeSPIngest is the integration of the function sp-ingest, which
// answers with its name.
func invokeSPIngest(fn string) (InvokeFunc, error) {
	if fn != "sp-ingest" {
		return nil, errors.New("no such function")
	}
	return func(context.Context, []byte) ([]byte, error) {
		return []byte(fmt.Sprintf(`{"statusCode":200,"body":%q}`, fn)), nil
	}, nil
}

// TestRoutesFromAPI reads routes that were created through the API Gateway
// v2 API of a real moto server, as Terraform creates them.
func TestRoutesFromAPI(t *testing.T) {
	ctx, srv := startMoto(t)
	api := apigatewayv2.New(apigatewayv2.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL()),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	created, err := api.CreateApi(ctx, &apigatewayv2.CreateApiInput{Name: aws.String("spillway"), ProtocolType: apitypes.ProtocolTypeHttp})
	if err != nil {
		t.Fatal(err)
	}
	integ, err := api.CreateIntegration(ctx, &apigatewayv2.CreateIntegrationInput{
		ApiId: created.ApiId, IntegrationType: apitypes.IntegrationTypeAwsProxy,
		IntegrationUri:       aws.String("arn:aws:lambda:us-east-1:000000000000:function:sp-ingest"),
		PayloadFormatVersion: aws.String("2.0"), TimeoutInMillis: aws.Int32(29000),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"PUT /v3/table/import/{db}/{table}/{format}", "$default"} {
		if _, err := api.CreateRoute(ctx, &apigatewayv2.CreateRouteInput{
			ApiId: created.ApiId, RouteKey: aws.String(key), Target: aws.String("integrations/" + aws.ToString(integ.IntegrationId)),
		}); err != nil {
			t.Fatal(err)
		}
	}
	routes, err := RoutesFromAPI(ctx, api, aws.ToString(created.ApiId), invokeSPIngest)
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) != 2 {
		t.Fatalf("routes %+v", routes)
	}
	for _, r := range routes {
		if r.Timeout != 29*time.Second || r.Invoke == nil {
			t.Fatalf("route %+v", r)
		}
	}
	hs := startGateway(t, Config{Routes: routes})
	resp, body := do(t, newRequest(t, "PUT", hs.URL+"/v3/table/import/d/t/msgpack.gz", []byte{1}, nil))
	if resp.StatusCode != 200 || string(body) != "sp-ingest" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}

	// A function the caller cannot run is reported per route.
	_, err = RoutesFromAPI(ctx, api, aws.ToString(created.ApiId), func(string) (InvokeFunc, error) { return nil, errors.New("unknown") })
	if err == nil || !strings.Contains(err.Error(), `route "$default": function sp-ingest: unknown`) {
		t.Fatalf("error %v", err)
	}
}

// TestRESTFromAPI reads a REST API created through the API Gateway (v1) API
// of a real moto server behind the edge (which keeps CreateRestApi's
// binaryMediaTypes, as AWS does), as the Terraform module creates it:
// binary media types */*, ANY on the root and on {proxy+}, AWS_PROXY
// integrations.
func TestRESTFromAPI(t *testing.T) {
	ctx, srv := startMoto(t)
	e, err := edge.Start(ctx, edge.Config{Addr: "127.0.0.1:0", Backend: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	api := apigateway.New(apigateway.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(e.URL()),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	created, err := api.CreateRestApi(ctx, &apigateway.CreateRestApiInput{Name: aws.String("spillway"), BinaryMediaTypes: []string{"*/*"}})
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := api.CreateResource(ctx, &apigateway.CreateResourceInput{RestApiId: created.Id, ParentId: created.RootResourceId, PathPart: aws.String("{proxy+}")})
	if err != nil {
		t.Fatal(err)
	}
	uri := "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:sp-ingest/invocations"
	for _, res := range []*string{created.RootResourceId, proxy.Id} {
		if _, err := api.PutMethod(ctx, &apigateway.PutMethodInput{RestApiId: created.Id, ResourceId: res, HttpMethod: aws.String("ANY"), AuthorizationType: aws.String("NONE")}); err != nil {
			t.Fatal(err)
		}
		if _, err := api.PutIntegration(ctx, &apigateway.PutIntegrationInput{
			RestApiId: created.Id, ResourceId: res, HttpMethod: aws.String("ANY"), Type: apigwtypes.IntegrationTypeAwsProxy,
			IntegrationHttpMethod: aws.String("POST"), Uri: aws.String(uri), TimeoutInMillis: aws.Int32(29000),
		}); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := RESTFromAPI(ctx, api, aws.ToString(created.Id), "ingest", invokeSPIngest)
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{}
	for _, r := range cfg.Routes {
		keys = append(keys, r.Key)
		if r.Timeout != 29*time.Second || r.Invoke == nil {
			t.Fatalf("route %+v", r)
		}
	}
	if strings.Join(keys, ",") != "ANY /,ANY /{proxy+}" && strings.Join(keys, ",") != "ANY /{proxy+},ANY /" || strings.Join(cfg.BinaryMediaTypes, ",") != "*/*" || cfg.Kind != KindREST {
		t.Fatalf("config %+v", cfg)
	}
	hs := startGateway(t, cfg)
	resp, body := do(t, newRequest(t, "POST", hs.URL+"/ingest/td.db.t", []byte{1}, nil))
	if resp.StatusCode != 200 || string(body) != "sp-ingest" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if _, err := RESTFromAPI(ctx, api, aws.ToString(created.Id), "ingest", func(string) (InvokeFunc, error) { return nil, errors.New("unknown") }); err == nil ||
		!strings.Contains(err.Error(), "function sp-ingest: unknown") {
		t.Fatalf("error %v", err)
	}
}
