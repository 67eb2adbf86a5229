package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/spillwayhq/spillway/functions/flush"
	"github.com/spillwayhq/spillway/shared/layout"
	"github.com/spillwayhq/spillway/shared/tdimport"
)

// Failed re-imports every refused TD import (failed/) into its endpoint:
// the sealed object it names, with import_with_id and the same unique_id
// (the endpoint stores a unique_id once, so a replay interrupted between the
// import and the delete is safe to run again), then deletes the failed/
// document. The API keys come from the TDSecret secret, as flush reads them.
func (r *Replayer) Failed(ctx context.Context) (Result, error) {
	res := Result{Source: SourceFailed}
	keys, err := r.tdKeys(ctx)
	if err != nil {
		return res, err
	}
	err = r.list(ctx, layout.PrefixFailed, func(key string) error {
		res.Found++
		if r.replayFailed(ctx, key, keys) {
			res.Replayed++
		} else {
			res.Left++
		}
		return nil
	})
	return res, err
}

func (r *Replayer) replayFailed(ctx context.Context, key string, keys map[string]string) bool {
	raw, err := r.get(ctx, key)
	if err != nil {
		return r.leave(ctx, key, err)
	}
	var f flush.FailedRecord
	if err := json.Unmarshal(raw, &f); err != nil {
		return r.leave(ctx, key, fmt.Errorf("decode failed import: %w", err))
	}
	if f.Endpoint == "" || f.DB == "" || f.Table == "" || f.UniqueID == "" || f.Object == "" {
		return r.leave(ctx, key, fmt.Errorf("the document lacks endpoint, db, table, unique_id or object"))
	}
	apikey, ok := keys[f.Endpoint]
	if !ok {
		apikey, ok = keys[strings.TrimRight(f.Endpoint, "/")]
	}
	if !ok {
		return r.leave(ctx, key, fmt.Errorf("secret %s holds no API key for %s", r.cfg.TDSecret, f.Endpoint))
	}
	body, err := r.get(ctx, f.Object)
	if err != nil {
		return r.leave(ctx, key, fmt.Errorf("sealed object: %w", err))
	}
	r.say("%s %s (%d bytes) into %s %s.%s with unique_id %s, then delete %s",
		r.verb("import"), f.Object, len(body), f.Endpoint, f.DB, f.Table, f.UniqueID, key)
	if r.cfg.DryRun {
		return true
	}
	c := &tdimport.Client{Endpoint: f.Endpoint, APIKey: apikey, HTTP: r.c.HTTP, Logger: r.log, UserAgent: "spillway-replay"}
	if _, err := c.ImportWithID(ctx, f.DB, f.Table, f.UniqueID, body); err != nil {
		if tdimport.IsContentError(err) {
			err = fmt.Errorf("refused again, fix the cause first: %w", err)
		}
		return r.leave(ctx, key, err)
	}
	if err := r.remove(ctx, key); err != nil {
		return r.leave(ctx, key, fmt.Errorf("imported, document kept (a second replay is deduplicated by unique_id): %w", err))
	}
	r.log.InfoContext(ctx, "failed import replayed", "db", f.DB, "table", f.Table, "unique_id", f.UniqueID, "endpoint", f.Endpoint, "object", f.Object)
	return true
}

// tdKeys reads the JSON object {"<endpoint url>": "<apikey>"} of TDSecret.
func (r *Replayer) tdKeys(ctx context.Context) (map[string]string, error) {
	if r.c.Secrets == nil {
		return nil, errors.New("no Secrets Manager client")
	}
	out, err := r.c.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(r.cfg.TDSecret)})
	if err != nil {
		return nil, fmt.Errorf("read secret %s: %w", r.cfg.TDSecret, err)
	}
	keys := map[string]string{}
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &keys); err != nil {
		return nil, fmt.Errorf("secret %s: want a JSON object {\"<endpoint url>\": \"<apikey>\"}: %w", r.cfg.TDSecret, err)
	}
	return keys, nil
}
