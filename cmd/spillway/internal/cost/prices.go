package cost

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
)

// DefaultPricesFile is the embedded price file `spillway cost` uses unless
// given -prices.
const DefaultPricesFile = "prices/us-east-1-2026-12.json"

//go:embed prices/*.json
var priceFiles embed.FS

// Tier is one step of a tiered price: usd per Price.Per units for the
// monthly volume up to UpTo units (0: no upper bound).
type Tier struct {
	UpTo float64 `json:"up_to,omitempty"`
	USD  float64 `json:"usd"`
}

// Price is one list price: USD per Per units of Unit, with the page it
// comes from. Tiers, when given, replace USD by monthly volume.
type Price struct {
	USD    float64 `json:"usd"`
	Per    float64 `json:"per"`
	Unit   string  `json:"unit"`
	Tiers  []Tier  `json:"tiers,omitempty"`
	Source string  `json:"source"`
}

// Monthly is the price of units in one month, tier by tier.
func (p Price) Monthly(units float64) float64 {
	if len(p.Tiers) == 0 {
		return units * p.USD / p.Per
	}
	total, done := 0.0, 0.0
	for _, t := range p.Tiers {
		n := units - done
		if t.UpTo > 0 {
			n = min(n, t.UpTo-done)
		}
		if n <= 0 {
			break
		}
		total += n * t.USD / p.Per
		done += n
	}
	return total
}

// Prices is a versioned price file: one region at one date.
type Prices struct {
	Region   string           `json:"region"`
	Date     string           `json:"date"`
	Currency string           `json:"currency"`
	Note     string           `json:"note,omitempty"`
	Prices   map[string]Price `json:"prices"`
	// File is where the prices were read from (not in the file).
	File string `json:"-"`
}

// Price names the model reads; a price file must have every one.
const (
	APIRequest              = "apigw_http_request"
	LambdaRequest           = "lambda_request"
	LambdaGBSecond          = "lambda_arm64_gb_second"
	KinesisStreamHour       = "kinesis_on_demand_stream_hour"
	KinesisGBIn             = "kinesis_on_demand_gb_in"
	KinesisGBOut            = "kinesis_on_demand_gb_out"
	KinesisShardHour        = "kinesis_shard_hour"
	KinesisPayloadUnit      = "kinesis_put_payload_unit"
	DynamoDBWriteUnit       = "dynamodb_write_request_unit"
	DynamoDBReadUnit        = "dynamodb_read_request_unit"
	S3Tier1                 = "s3_tier1_request"
	S3Tier2                 = "s3_tier2_request"
	S3StorageGBMonth        = "s3_storage_gb_month"
	AlarmMonth              = "cloudwatch_alarm_month"
	DashboardMonth          = "cloudwatch_dashboard_month"
	LogsGB                  = "cloudwatch_logs_gb_ingested"
	GlueRequest             = "glue_catalog_request"
	FirehoseGB              = "firehose_direct_put_gb"
	FirehoseConversionGB    = "firehose_format_conversion_gb"
	FirehosePartitioningGB  = "firehose_dynamic_partitioning_gb"
	FirehosePartitionObject = "firehose_dynamic_partitioning_object"
	EC2Hour                 = "ec2_c7g_large_hour"
	EBSGBMonth              = "ebs_gp3_gb_month"
)

var required = []string{APIRequest, LambdaRequest, LambdaGBSecond, KinesisStreamHour, KinesisGBIn, KinesisGBOut,
	KinesisShardHour, KinesisPayloadUnit, DynamoDBWriteUnit, DynamoDBReadUnit, S3Tier1, S3Tier2, S3StorageGBMonth,
	AlarmMonth, DashboardMonth, LogsGB, GlueRequest, FirehoseGB, FirehoseConversionGB, FirehosePartitioningGB,
	FirehosePartitionObject, EC2Hour, EBSGBMonth}

// Validate reports every problem: missing region, date or prices, prices
// without a source or a positive Per, tiers out of order.
func (p Prices) Validate() error {
	var errs []error
	if p.Region == "" {
		errs = append(errs, errors.New("region: required"))
	}
	if p.Date == "" {
		errs = append(errs, errors.New("date: required"))
	}
	for _, name := range required {
		if _, ok := p.Prices[name]; !ok {
			errs = append(errs, fmt.Errorf("prices.%s: missing", name))
		}
	}
	names := make([]string, 0, len(p.Prices))
	for n := range p.Prices {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		pr := p.Prices[n]
		if pr.Source == "" {
			errs = append(errs, fmt.Errorf("prices.%s.source: required", n))
		}
		if pr.Per <= 0 {
			errs = append(errs, fmt.Errorf("prices.%s.per: must be positive", n))
		}
		if pr.USD < 0 {
			errs = append(errs, fmt.Errorf("prices.%s.usd: negative", n))
		}
		last := 0.0
		for i, t := range pr.Tiers {
			if t.UpTo == 0 && i != len(pr.Tiers)-1 {
				errs = append(errs, fmt.Errorf("prices.%s.tiers[%d]: only the last tier may be unbounded", n, i))
			}
			if t.UpTo != 0 && t.UpTo <= last {
				errs = append(errs, fmt.Errorf("prices.%s.tiers[%d]: up_to must grow", n, i))
			}
			last = t.UpTo
		}
	}
	return errors.Join(errs...)
}

// LoadPrices reads a price file strictly (unknown keys are errors); ""
// reads the embedded DefaultPricesFile.
func LoadPrices(path string) (Prices, error) {
	var p Prices
	name, err := loadStrict(path, priceFiles, DefaultPricesFile, "prices", &p, func() error { return p.Validate() })
	if err != nil {
		return Prices{}, err
	}
	p.File = name
	return p, nil
}

// loadStrict decodes the JSON file at path (the embedded file def of fsys
// when path is "") into v strictly, checks it with validate and returns
// the name it was read from; kind names the file in errors.
func loadStrict(path string, fsys embed.FS, def, kind string, v any, validate func() error) (string, error) {
	var (
		data []byte
		err  error
	)
	name := path
	if path == "" {
		name = "embedded " + def
		data, err = fsys.ReadFile(def)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return name, fmt.Errorf("read %s: %w", kind, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return name, fmt.Errorf("decode %s %s: %w", kind, name, err)
	}
	if err := validate(); err != nil {
		return name, fmt.Errorf("%s %s: %w", kind, name, err)
	}
	return name, nil
}

// monthly prices units of name in one month.
func (p Prices) monthly(name string, units float64) float64 {
	return p.Prices[name].Monthly(units)
}
