package layout

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// MaxS3Key is S3's limit on an object key, in bytes (UTF-8).
const MaxS3Key = 1024

// Top-level areas (key prefixes) of the one bucket. See docs/ARCHITECTURE.md.
const (
	// PrefixStaged holds fanout's staged objects, one per transaction and
	// partition (named by StagedKey from the transaction's ledger ids).
	PrefixStaged = "staged/"
	// PrefixLate holds staged objects of hours already sealed.
	PrefixLate = "late/"
	// PrefixSealed holds flush's sealed, partitioned objects.
	PrefixSealed = "data/"
	// PrefixQuarantine holds what fanout could not store, with the reason.
	PrefixQuarantine = "quarantine/"
	// PrefixQuarantineRecords holds undecodable Kinesis records.
	PrefixQuarantineRecords = PrefixQuarantine + "records/"
	// PrefixQuarantineFuture holds far-future events of a part.
	PrefixQuarantineFuture = PrefixQuarantine + "future/"
	// PrefixFailed holds TD imports refused for good, with the response.
	PrefixFailed = "failed/"
	// PrefixManifests holds flush's manifest bodies: the staged objects a
	// live manifest claims, written once, deleted with the manifest.
	PrefixManifests = "manifests/"
)

// ObjectSuffix ends every staged, late, future and sealed object key: the
// object is a TD import body (gzip of a msgpack map stream).
const ObjectSuffix = ".msgpack.gz"

const (
	jsonSuffix = ".json"
	// maxSegment bounds an escaped shard id, sequence number, endpoint host
	// or unique id in a key; longer ones are hashed.
	maxSegment = 256
)

// TablePrefix is the key prefix of one table's objects in area (one of the
// Prefix constants that lie in partitions: PrefixStaged, PrefixLate,
// PrefixSealed, PrefixQuarantineFuture): <area>db=<db>/table=<table>/.
func TablePrefix(area, db, table string) string { return area + TablePath(db, table) + "/" }

// PartObject is a parsed staged, late or quarantined-future object key:
// <area><partition path>/<name>.msgpack.gz.
type PartObject struct {
	Area      string    // PrefixStaged, PrefixLate or PrefixQuarantineFuture
	Partition Partition // the hour the object's events belong to
	Name      string    // the escaped part id, or its hashed form (IsHashed)
}

// StagedKey is the deterministic staged (late: late) object key of events
// in partition p under a name: fanout names a staged object after the
// ledger ids of the transaction that commits it; a part id
// (envelope.PartID) names one part's object. The name is path-escaped;
// when the key would exceed MaxS3Key it is hashed, the readable prefix being
// the escaped part id without its leading "<db>.<table>.".
func StagedKey(late bool, p Partition, partID string) string {
	if late {
		return partKey(PrefixLate, p, partID)
	}
	return partKey(PrefixStaged, p, partID)
}

// QuarantineFutureKey is where the far-future events of one part in
// partition p go; the name follows StagedKey's rule.
func QuarantineFutureKey(p Partition, partID string) string {
	return partKey(PrefixQuarantineFuture, p, partID)
}

func partKey(area string, p Partition, partID string) string {
	dir := area + p.Path() + "/"
	esc := url.PathEscape(partID)
	if len(dir)+len(esc)+len(ObjectSuffix) <= MaxS3Key {
		return dir + esc + ObjectSuffix
	}
	return dir + hashed(partID, strings.TrimPrefix(esc, p.DB+"."+p.Table+".")) + ObjectSuffix
}

// Key formats o: ParsePartKey(k).Key() == k.
func (o PartObject) Key() string { return o.Area + o.Partition.Path() + "/" + o.Name + ObjectSuffix }

// PartID returns the part id (or, for a staged object, fanout's pack name)
// the name was formatted from; ok is false when the name is hashed (the
// ledger item keeps the full part id).
func (o PartObject) PartID() (id string, ok bool) {
	if IsHashed(o.Name) {
		return "", false
	}
	id, err := url.PathUnescape(o.Name)
	return id, err == nil
}

// ParsePartKey parses a key formatted by StagedKey or QuarantineFutureKey.
func ParsePartKey(key string) (PartObject, error) {
	var o PartObject
	for _, a := range []string{PrefixStaged, PrefixLate, PrefixQuarantineFuture} {
		if strings.HasPrefix(key, a) {
			o.Area = a
			break
		}
	}
	rest, ok := strings.CutSuffix(strings.TrimPrefix(key, o.Area), ObjectSuffix)
	if o.Area == "" || !ok {
		return PartObject{}, fmt.Errorf("%w: %q is not a staged, late or future object key", ErrMalformed, clip(key))
	}
	j := strings.LastIndexByte(rest, '/')
	if j < 0 {
		return PartObject{}, fmt.Errorf("%w: staged key %q has no partition", ErrMalformed, clip(key))
	}
	p, err := ParsePath(rest[:j])
	if err != nil {
		return PartObject{}, fmt.Errorf("staged key: %w", err)
	}
	if err := checkName(rest[j+1:]); err != nil {
		return PartObject{}, fmt.Errorf("%w: staged key %q: %v", ErrMalformed, clip(key), err)
	}
	o.Partition, o.Name = p, rest[j+1:]
	return o, nil
}

// checkName accepts a non-empty segment that is either canonically
// path-escaped or in hashed form.
func checkName(s string) error {
	if s == "" {
		return fmt.Errorf("empty name")
	}
	_, err := unescapeSegment(s)
	return err
}

// fitSegment path-escapes s, hashing it when the escaped form is longer
// than maxSegment.
func fitSegment(s string) string {
	esc := url.PathEscape(s)
	if len(esc) <= maxSegment {
		return esc
	}
	return hashed(s, esc)
}

// unescapeSegment reverses fitSegment; a hashed segment is returned as is.
func unescapeSegment(s string) (string, error) {
	if i := strings.Index(s, HashMark); i >= 0 {
		h := s[i+len(HashMark):]
		if i > readableLen || len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" || strings.Contains(s[:i], "/") {
			return "", fmt.Errorf("bad hashed name %q", clip(s))
		}
		return s, nil
	}
	u, err := url.PathUnescape(s)
	if err != nil || url.PathEscape(u) != s {
		return "", fmt.Errorf("name %q is not canonically escaped", clip(s))
	}
	return u, nil
}

// SealedObject is a parsed sealed object key:
// data/<partition path>/<manifest id>-<n>.msgpack.gz.
type SealedObject struct {
	Partition  Partition
	ManifestID string // the manifest that wrote it (NewManifestID: 32 hex digits)
	N          int    // its number within the manifest
}

// SealedKey is the key of sealed object n of manifest manifestID in p.
func SealedKey(p Partition, manifestID string, n int) string {
	return PrefixSealed + p.Path() + "/" + manifestID + "-" + strconv.Itoa(n) + ObjectSuffix
}

// Key formats o: ParseSealedKey(k).Key() == k.
func (o SealedObject) Key() string { return SealedKey(o.Partition, o.ManifestID, o.N) }

// ParseSealedKey parses a key formatted by SealedKey.
func ParseSealedKey(key string) (SealedObject, error) {
	rest, ok1 := strings.CutPrefix(key, PrefixSealed)
	rest, ok2 := strings.CutSuffix(rest, ObjectSuffix)
	j := strings.LastIndexByte(rest, '/')
	if !ok1 || !ok2 || j < 0 {
		return SealedObject{}, fmt.Errorf("%w: %q is not a sealed object key", ErrMalformed, clip(key))
	}
	p, err := ParsePath(rest[:j])
	if err != nil {
		return SealedObject{}, fmt.Errorf("sealed key: %w", err)
	}
	name := rest[j+1:]
	k := strings.LastIndexByte(name, '-')
	if k < 0 || ParseManifestID(name[:k]) != nil {
		return SealedObject{}, fmt.Errorf("%w: sealed key %q: name is not <manifest id>-<n>", ErrMalformed, clip(key))
	}
	n, err := strconv.Atoi(name[k+1:])
	if err != nil || n < 0 || strconv.Itoa(n) != name[k+1:] {
		return SealedObject{}, fmt.Errorf("%w: sealed key %q: bad object number", ErrMalformed, clip(key))
	}
	return SealedObject{Partition: p, ManifestID: name[:k], N: n}, nil
}

// QuarantineRecord is a parsed quarantined-record key:
// quarantine/records/shard=<shard id>/<sequence number>.json.
type QuarantineRecord struct {
	ShardID  string // Kinesis shard id, or its hashed form when Hashed
	Sequence string // sequence number, or its hashed form when Hashed
	Hashed   bool   // a segment is hashed; the stored document holds both in full
}

// QuarantineRecordKey is where an undecodable record goes, keyed by its
// Kinesis coordinates. Each is path-escaped and hashed when longer than 256
// bytes escaped (never for ids Kinesis issues); the JSON document stored
// there holds both in full.
func QuarantineRecordKey(shardID, seq string) string {
	return PrefixQuarantineRecords + "shard=" + fitSegment(shardID) + "/" + fitSegment(seq) + jsonSuffix
}

// ParseQuarantineRecordKey parses a key formatted by QuarantineRecordKey.
func ParseQuarantineRecordKey(key string) (QuarantineRecord, error) {
	rest, ok1 := strings.CutPrefix(key, PrefixQuarantineRecords+"shard=")
	rest, ok2 := strings.CutSuffix(rest, jsonSuffix)
	shard, seq, ok3 := strings.Cut(rest, "/")
	if !ok1 || !ok2 || !ok3 {
		return QuarantineRecord{}, fmt.Errorf("%w: %q is not a quarantined record key", ErrMalformed, clip(key))
	}
	s1, err1 := unescapeSegment(shard)
	s2, err2 := unescapeSegment(seq)
	if err1 != nil || err2 != nil {
		return QuarantineRecord{}, fmt.Errorf("%w: quarantined record key %q is not canonical", ErrMalformed, clip(key))
	}
	return QuarantineRecord{ShardID: s1, Sequence: s2, Hashed: IsHashed(shard) || IsHashed(seq)}, nil
}

// Failed is a parsed key of a refused TD import:
// failed/<endpoint host>/db=<db>/table=<table>/<unique id>.json.
type Failed struct {
	Host     string // the endpoint's host[:port], or its hashed form when Hashed
	DB       string // database name
	Table    string // table name
	UniqueID string // the import's unique_id, or its hashed form when Hashed
	Hashed   bool   // a segment is hashed; the stored document holds both in full
}

// FailedKey is where a TD import refused for good by endpoint is parked.
// The endpoint is reduced to its host[:port] (the whole string when it has
// none); host and unique id are path-escaped and hashed when longer than
// 256 bytes escaped, and the unique id is hashed too when the key would
// still exceed MaxS3Key.
func FailedKey(endpoint, db, table, uniqueID string) string {
	host := endpoint
	if u, err := url.Parse(endpoint); err == nil && u.Host != "" {
		host = u.Host
	}
	dir := PrefixFailed + fitSegment(host) + "/" + TablePath(db, table) + "/"
	name := fitSegment(uniqueID)
	if len(dir)+len(name)+len(jsonSuffix) > MaxS3Key {
		name = hashed(uniqueID, url.PathEscape(uniqueID))
	}
	return dir + name + jsonSuffix
}

// ParseFailedKey parses a key formatted by FailedKey.
func ParseFailedKey(key string) (Failed, error) {
	rest, ok1 := strings.CutPrefix(key, PrefixFailed)
	rest, ok2 := strings.CutSuffix(rest, jsonSuffix)
	seg := strings.Split(rest, "/")
	if !ok1 || !ok2 || len(seg) != 4 {
		return Failed{}, fmt.Errorf("%w: %q is not a failed import key", ErrMalformed, clip(key))
	}
	db, table, err := parseTablePath(seg[1], seg[2])
	if err != nil {
		return Failed{}, fmt.Errorf("failed import key: %w", err)
	}
	host, err1 := unescapeSegment(seg[0])
	uid, err2 := unescapeSegment(seg[3])
	if err1 != nil || err2 != nil || host == "" || uid == "" {
		return Failed{}, fmt.Errorf("%w: failed import key %q is not canonical", ErrMalformed, clip(key))
	}
	return Failed{Host: host, DB: db, Table: table, UniqueID: uid, Hashed: IsHashed(seg[0]) || IsHashed(seg[3])}, nil
}

// ManifestKey is the key of the body of manifest id of db.table (the
// staged objects it claims, JSON):
// manifests/db=<db>/table=<table>/<manifest id>.json.
func ManifestKey(db, table, id string) string {
	return PrefixManifests + TablePath(db, table) + "/" + id + jsonSuffix
}

// ManifestBody is a parsed manifest body key.
type ManifestBody struct {
	DB, Table string
	ID        string // the manifest id (NewManifestID: 32 hex digits)
}

// ParseManifestKey parses a key formatted by ManifestKey.
func ParseManifestKey(key string) (ManifestBody, error) {
	rest, ok1 := strings.CutPrefix(key, PrefixManifests)
	rest, ok2 := strings.CutSuffix(rest, jsonSuffix)
	seg := strings.Split(rest, "/")
	if !ok1 || !ok2 || len(seg) != 3 {
		return ManifestBody{}, fmt.Errorf("%w: %q is not a manifest body key", ErrMalformed, clip(key))
	}
	db, table, err := parseTablePath(seg[0], seg[1])
	if err != nil {
		return ManifestBody{}, fmt.Errorf("manifest body key: %w", err)
	}
	if err := ParseManifestID(seg[2]); err != nil {
		return ManifestBody{}, fmt.Errorf("manifest body key: %w", err)
	}
	return ManifestBody{DB: db, Table: table, ID: seg[2]}, nil
}
