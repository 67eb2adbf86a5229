package laketest

import (
	"context"
	"fmt"
	"strings"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/utils"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spillwayhq/spillway/shared/lake"
)

// Referenced returns the files that the snapshots of lake table db.tbl
// reference: their manifest lists, manifests, and the data files those
// manifests do not mark deleted (the metadata.json files aside). awsCfg
// reaches the table's S3 files.
func Referenced(ctx context.Context, awsCfg aws.Config, lk *lake.Lake, db, tbl string) (map[string]bool, error) {
	ctx = utils.WithAwsConfig(ctx, &awsCfg)
	t, err := lk.Load(ctx, db, tbl)
	if err != nil {
		return nil, err
	}
	fs, err := t.FS(ctx)
	if err != nil {
		return nil, fmt.Errorf("file IO of %s.%s: %w", db, tbl, err)
	}
	out := map[string]bool{}
	for _, s := range t.Metadata().Snapshots() {
		out[s.ManifestList] = true
		mans, err := s.Manifests(fs)
		if err != nil {
			return nil, fmt.Errorf("manifests of snapshot %d: %w", s.SnapshotID, err)
		}
		for _, m := range mans {
			out[m.FilePath()] = true
			for e, err := range m.Entries(fs, false) {
				if err != nil {
					return nil, fmt.Errorf("manifest %s: %w", m.FilePath(), err)
				}
				if e.Status() != iceberg.EntryStatusDELETED {
					out[e.DataFile().FilePath()] = true
				}
			}
		}
	}
	return out, nil
}

// Objects lists the S3 objects under location (s3://bucket/prefix/) as
// s3:// URLs; metadata.json files are left out unless withMetadataJSON.
func Objects(ctx context.Context, sc *s3.Client, location string, withMetadataJSON bool) (map[string]bool, error) {
	bucket, prefix, _ := strings.Cut(strings.TrimPrefix(location, "s3://"), "/")
	out := map[string]bool{}
	p := s3.NewListObjectsV2Paginator(sc, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(strings.TrimSuffix(prefix, "/") + "/")})
	for p.HasMorePages() {
		pg, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", location, err)
		}
		for _, o := range pg.Contents {
			if k := aws.ToString(o.Key); withMetadataJSON || !strings.HasSuffix(k, ".metadata.json") {
				out["s3://"+bucket+"/"+k] = true
			}
		}
	}
	return out, nil
}
