package main

import (
	"encoding/json"
	"fmt"
	"os"
)

// envOutputs names the `terraform output -json` file every command reads
// names from when no flag or variable gives them.
const envOutputs = "SPILLWAY_TF_OUTPUTS"

// outputs are the Terraform outputs (infra/terraform/modules/spillway,
// outputs.tf) the commands use; a root module exposes them under the same
// names.
type outputs struct {
	Bucket         string // bucket
	StreamName     string // stream_name
	QueueURL       string // on_failure_queue_url
	TDAPIKeySecret string // td_apikey_secret_arn
	APIKeysTable   string // apikeys_table
}

// readOutputs reads the file `terraform output -json` wrote. Outputs it does
// not know are ignored; a missing or null one leaves its field empty.
func readOutputs(path string) (outputs, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return outputs{}, usageErr(fmt.Errorf("read terraform outputs: %w", err))
	}
	var doc map[string]struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return outputs{}, usageErr(fmt.Errorf("terraform outputs %s: want `terraform output -json`: %w", path, err))
	}
	str := func(name string) string {
		var s string
		if o, ok := doc[name]; ok {
			_ = json.Unmarshal(o.Value, &s) // a null or non-string value leaves it empty
		}
		return s
	}
	return outputs{
		Bucket:         str("bucket"),
		StreamName:     str("stream_name"),
		QueueURL:       str("on_failure_queue_url"),
		TDAPIKeySecret: str("td_apikey_secret_arn"),
		APIKeysTable:   str("apikeys_table"),
	}, nil
}
