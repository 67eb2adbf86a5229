package cloud

import (
	"context"
	"fmt"

	"github.com/spillwayhq/spillway/local/edge"
	"github.com/spillwayhq/spillway/local/lambdarun"
)

// runnerInvoker routes the edge's Lambda Invoke calls to the runners.
type runnerInvoker struct{ c *Cloud }

func (ri runnerInvoker) runner(name string) (*lambdarun.Runner, error) {
	for _, f := range ri.c.Functions {
		if f.Name == name && f.Runner != nil {
			return f.Runner, nil
		}
	}
	return nil, fmt.Errorf("%s: %w", name, edge.ErrUnknownFunction)
}

// Invoke runs a RequestResponse invocation.
func (ri runnerInvoker) Invoke(ctx context.Context, name string, payload []byte) (edge.InvokeResult, error) {
	r, err := ri.runner(name)
	if err != nil {
		return edge.InvokeResult{}, err
	}
	out, fnErr, err := r.InvokeLambda(ctx, payload)
	return edge.InvokeResult{Payload: out, FunctionError: fnErr}, err
}

// InvokeAsync queues an Event invocation with Lambda's retries.
func (ri runnerInvoker) InvokeAsync(_ context.Context, name string, payload []byte) error {
	r, err := ri.runner(name)
	if err != nil {
		return err
	}
	return r.InvokeAsync(payload)
}
