package costrun

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// countAlarms counts the CloudWatch alarms and dashboards with the query
// protocol (DescribeAlarms, ListDashboards; moto does not answer the CBOR
// protocol of newer SDKs).
func countAlarms(ctx context.Context, cfg aws.Config, endpoint string) (alarms, dashboards int, err error) {
	var next string
	for {
		form := url.Values{"Action": {"DescribeAlarms"}, "Version": {"2010-08-01"}}
		if next != "" {
			form.Set("NextToken", next)
		}
		var out struct {
			Metric    []string `xml:"DescribeAlarmsResult>MetricAlarms>member>AlarmName"`
			Composite []string `xml:"DescribeAlarmsResult>CompositeAlarms>member>AlarmName"`
			Next      string   `xml:"DescribeAlarmsResult>NextToken"`
		}
		if err := queryCall(ctx, cfg, endpoint, form, &out); err != nil {
			return 0, 0, err
		}
		alarms += len(out.Metric) + len(out.Composite)
		if next = out.Next; next == "" {
			break
		}
	}
	var dash struct {
		Names []string `xml:"ListDashboardsResult>DashboardEntries>member>DashboardName"`
	}
	if err := queryCall(ctx, cfg, endpoint, url.Values{"Action": {"ListDashboards"}, "Version": {"2010-08-01"}}, &dash); err != nil {
		return 0, 0, err
	}
	return alarms, len(dash.Names), nil
}

// queryCall sends one signed CloudWatch query-protocol call and decodes
// its XML answer into out.
func queryCall(ctx context.Context, cfg aws.Config, endpoint string, form url.Values, out any) error {
	body := form.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(endpoint, "/")+"/", strings.NewReader(body))
	if err != nil {
		return fmt.Errorf("cloudwatch %s: %w", form.Get("Action"), err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("cloudwatch %s: credentials: %w", form.Get("Action"), err)
	}
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "monitoring", cfg.Region, time.Now()); err != nil {
		return fmt.Errorf("cloudwatch %s: sign: %w", form.Get("Action"), err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("cloudwatch %s: %w", form.Get("Action"), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("cloudwatch %s: %w", form.Get("Action"), err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("cloudwatch %s: %d %.300s", form.Get("Action"), resp.StatusCode, b)
	}
	if err := xml.Unmarshal(b, out); err != nil {
		return fmt.Errorf("cloudwatch %s: decode: %w", form.Get("Action"), err)
	}
	return nil
}
