// Command kfn is a Kinesis test function for esm: it prints "processed
// <data>" per record, exits the process on a record "crash" and reports
// records "reject" as batch item failures.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func handle(_ context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
	var resp events.KinesisEventResponse
	for _, r := range ev.Records {
		switch string(r.Kinesis.Data) {
		case "crash":
			os.Exit(1)
		case "reject":
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: r.Kinesis.SequenceNumber})
		}
	}
	for _, r := range ev.Records {
		fmt.Printf("processed %s\n", r.Kinesis.Data)
	}
	return resp, nil
}

func main() { lambda.Start(handle) }
