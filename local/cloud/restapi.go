package cloud

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"

	"github.com/spillwayhq/spillway/local/apigw"
)

// serveREST serves the deployed REST API front (Terraform output
// rest_api_id) on ln, as apigw.RESTFromAPI reads it back: its resources,
// integrations and binary media types. Without a REST API in the deployment
// it releases ln and leaves RESTURL empty.
func (c *Cloud) serveREST(ctx context.Context, cfg aws.Config, ln net.Listener, log *slog.Logger) error {
	if c.Outputs.RESTAPIID == "" {
		return ln.Close()
	}
	invokeFor := func(fn string) (apigw.InvokeFunc, error) {
		for _, f := range c.Functions {
			if f.Name == fn {
				return f.Runner.Invoke, nil
			}
		}
		return nil, fmt.Errorf("function %s is not one of the deployed functions", fn)
	}
	gcfg, err := apigw.RESTFromAPI(ctx, apigateway.NewFromConfig(cfg), c.Outputs.RESTAPIID, c.Outputs.RESTAPIStage, invokeFor)
	if err != nil {
		return fmt.Errorf("rest api front: %w", err)
	}
	gcfg.Logger = log
	gw, err := apigw.New(gcfg)
	if err != nil {
		return fmt.Errorf("rest api front: %w", err)
	}
	c.serveHTTP(ln, gw)
	c.RESTURL = "http://" + ln.Addr().String() + "/" + gcfg.Stage
	return nil
}

// serveHTTP serves h on ln until Close, which shuts the server down.
func (c *Cloud) serveHTTP(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	c.closers = append(c.closers, func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		<-served
		return err
	})
}
