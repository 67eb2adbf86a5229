package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/forwarder/buffer"
	"github.com/spillwayhq/spillway/forwarder/config"
)

// TestRequeueCommand: `requeue -dry-run` lists the parked chunks of the
// configured buffer and moves nothing; `requeue` puts them back in the
// queue; a bad configuration exits 2.
func TestRequeueCommand(t *testing.T) {
	r := newRig(t)
	cfg, err := config.Load(r.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	bcfg := buffer.DefaultConfig()
	bcfg.Dir = cfg.Buffer.Dir
	b, err := buffer.Open(bcfg)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := msgpack.Marshal(map[string]any{"time": int64(1700000000), "msg": "x"})
	if err := b.Append(context.Background(), "td.db1.app", rec, 1); err != nil {
		t.Fatal(err)
	}
	b.SealAll()
	c, err := b.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Park(c, []byte(`{"status_code": 422}`)); err != nil {
		t.Fatal(err)
	}
	b.Close()
	parked := func() int {
		m, _ := filepath.Glob(filepath.Join(cfg.Buffer.Dir, "failed", "*.chunk"))
		return len(m)
	}
	for _, tc := range []struct {
		args       []string
		wantCode   int
		wantOut    string
		wantParked int
	}{
		{[]string{"-config", r.cfgPath, "-dry-run"}, 0, "would requeue 1 chunk(s)", 1},
		{[]string{"-config", r.cfgPath, "ffff"}, 0, "requeued 0 chunk(s)", 1},
		{[]string{"-config", r.cfgPath}, 0, "requeued 1 chunk(s)", 0},
		{[]string{"-config", filepath.Join(r.dir, "missing.yaml")}, 2, "", 0},
	} {
		var out, errOut bytes.Buffer
		code := requeueMain(tc.args, &out, &errOut)
		if code != tc.wantCode || !strings.Contains(out.String(), tc.wantOut) || parked() != tc.wantParked {
			t.Errorf("requeue %v: code %d, parked %d, out %q, err %q", tc.args, code, parked(), out.String(), errOut.String())
		}
	}
}
