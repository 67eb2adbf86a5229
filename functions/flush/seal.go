package flush

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/spillwayhq/spillway/shared/layout"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// fetchWindow is how many staged objects seal reads at once.
const fetchWindow = 16

// keepBodies bounds the sealed bodies a run keeps in memory for the TD
// imports that follow; past it, imports read the sealed objects back.
const keepBodies = 64 << 20

// seal reads m's staged objects and writes the sealed objects (same keys
// and bytes on every run), one partition at a time, each at most
// SealTargetBytes uncompressed. It returns their keys and the bodies it
// kept (up to keepBodies bytes).
func (h *Handler) seal(ctx context.Context, m *Manifest) ([]string, map[string][]byte, error) {
	type pe struct {
		part layout.Partition
		path string
		e    ManifestEntry
	}
	var ents []pe
	for _, e := range m.Entries {
		o, err := layout.ParsePartKey(e.Key)
		if err != nil {
			return nil, nil, err
		}
		ents = append(ents, pe{o.Partition, o.Partition.Path(), e})
	}
	sort.SliceStable(ents, func(i, j int) bool {
		if ents[i].path != ents[j].path {
			return ents[i].path < ents[j].path
		}
		return ents[i].e.Key < ents[j].e.Key
	})
	var keys []string
	bodies := map[string][]byte{}
	kept := 0
	var cur bytes.Buffer
	var curPart layout.Partition
	curPath := ""
	flush := func() error {
		if cur.Len() == 0 {
			return nil
		}
		k := layout.SealedKey(curPart, m.ID, len(keys))
		body := tdrecord.GzipStream(cur.Bytes())
		if err := h.put(ctx, k, body); err != nil {
			return err
		}
		keys = append(keys, k)
		if kept+len(body) <= keepBodies {
			bodies[k] = body
			kept += len(body)
		}
		cur.Reset()
		return nil
	}
	for w := 0; w < len(ents); w += fetchWindow {
		window := ents[w:min(w+fetchWindow, len(ents))]
		raws := make([][]byte, len(window))
		g, gctx := errgroup.WithContext(ctx)
		for i, x := range window {
			g.Go(func() error {
				b, err := h.get(gctx, x.e.Key)
				raws[i] = b
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, nil, err
		}
		for i, x := range window {
			if x.path != curPath || int64(cur.Len()) >= h.cfg.SealTargetBytes {
				if err := flush(); err != nil {
					return nil, nil, err
				}
				curPart, curPath = x.part, x.path
			}
			zr, err := gzip.NewReader(bytes.NewReader(raws[i]))
			if err != nil {
				return nil, nil, fmt.Errorf("gunzip %s: %w", x.e.Key, err)
			}
			if _, err := io.Copy(&cur, zr); err != nil {
				return nil, nil, fmt.Errorf("gunzip %s: %w", x.e.Key, err)
			}
			raws[i] = nil
		}
	}
	if err := flush(); err != nil {
		return nil, nil, err
	}
	return keys, bodies, nil
}

func (h *Handler) put(ctx context.Context, key string, body []byte) error {
	if _, err := h.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(h.cfg.Bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", h.cfg.Bucket, key, err)
	}
	return nil
}

func (h *Handler) get(ctx context.Context, key string) ([]byte, error) {
	out, err := h.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(h.cfg.Bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", h.cfg.Bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("read s3://%s/%s: %w", h.cfg.Bucket, key, err)
	}
	return b, nil
}
