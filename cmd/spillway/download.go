//go:build cgo

package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"
)

// getObjectAPI is the part of the S3 client download needs.
type getObjectAPI interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

var _ getObjectAPI = (*s3.Client)(nil)

// download fetches s3:// files into dir (four at a time) and returns the
// local paths in the same order.
func download(ctx context.Context, c getObjectAPI, files []string, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	local := make([]string, len(files))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, f := range files {
		local[i] = filepath.Join(dir, strconv.Itoa(i)+".parquet")
		g.Go(func() error { return fetch(ctx, c, f, local[i]) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return local, nil
}

func fetch(ctx context.Context, c getObjectAPI, src, dst string) error {
	u, err := url.Parse(src)
	if err != nil || u.Scheme != "s3" {
		return fmt.Errorf("data file %q is not an s3:// URL", src)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(u.Host), Key: aws.String(u.Path[1:])})
	if err != nil {
		return fmt.Errorf("get %s: %w", src, err)
	}
	defer out.Body.Close()
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", dst, err)
	}
	if _, err := io.Copy(f, out.Body); err != nil {
		_ = f.Close()
		return fmt.Errorf("download %s: %w", src, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", dst, err)
	}
	return nil
}
