package edge

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
)

// TestCreateRestAPIBinaryMediaTypes: a REST API created with
// binaryMediaTypes through the edge has them, in the create's answer and in
// GetRestApi, as on AWS (moto alone drops them); a create without them is
// forwarded untouched.
func TestCreateRestAPIBinaryMediaTypes(t *testing.T) {
	e := startEdge(t, Config{})
	c := apigateway.NewFromConfig(awsConfig(t, e.URL()))
	ctx := context.Background()
	tests := []struct {
		name  string
		types []string
	}{
		{name: "every type", types: []string{"*/*"}},
		{name: "two types", types: []string{"application/x-ndjson", "image/png"}},
		{name: "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			created, err := c.CreateRestApi(ctx, &apigateway.CreateRestApiInput{Name: aws.String("edge-" + strings.ReplaceAll(tt.name, " ", "-")), BinaryMediaTypes: tt.types})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.GetRestApi(ctx, &apigateway.GetRestApiInput{RestApiId: created.Id})
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Join(tt.types, ",")
			if strings.Join(created.BinaryMediaTypes, ",") != want || strings.Join(got.BinaryMediaTypes, ",") != want {
				t.Fatalf("binaryMediaTypes: create answered %q, GetRestApi %q, want %q", created.BinaryMediaTypes, got.BinaryMediaTypes, tt.types)
			}
			if aws.ToString(created.RootResourceId) == "" || aws.ToString(got.Name) != aws.ToString(created.Name) {
				t.Fatalf("created %+v", created)
			}
		})
	}
}
