// Command gen writes a seeded, reproducible Apache combined-format access log
// to stdout (or -o FILE), for benchmarking log forwarders at scale.
//
// It is a stop-gap for the Fluent Bit peer benchmark: when bench/forwarder/gen
// exists, run-fluent-bit.sh uses that one instead, so both peers read the same
// corpus. Same flags: -n lines, -seed.
//
//	go run ./bench/forwarder/fluentbit/gen -n 2000000 -seed 1 -o /tmp/apache_2m.log
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"time"
)

var (
	methods  = []string{"GET", "GET", "GET", "GET", "GET", "GET", "POST", "POST", "HEAD", "PUT", "DELETE", "OPTIONS"}
	protos   = []string{"HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0"}
	statuses = []int{200, 200, 200, 200, 200, 200, 200, 200, 304, 304, 301, 302, 404, 404, 403, 500, 503}
	dirs     = []string{"", "/images", "/css", "/js", "/blog", "/api/v1/items", "/presentations/logstash-monitorama-2013", "/files", "/static/fonts", "/downloads"}
	files    = []string{"/", "/index.html", "/favicon.ico", "/robots.txt", "/style.css", "/app.js", "/logo.png", "/kibana-search.png", "/feed.xml", "/search?q=spillway&page=2", "/item?id=", "/report-"}
	referers = []string{"-", "-", "http://www.google.com/search?q=apache+logs", "https://example.com/", "http://semicomplete.com/presentations/logstash-monitorama-2013/", "https://www.bing.com/search?q=log,forwarder", "https://news.ycombinator.com/item?id=1234567"}
	agents   = []string{
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
		"curl/8.5.0",
		"UniversalFeedParser/4.2-pre-314-svn +http://feedparser.org/",
		"-",
	}
	users = []string{"-", "-", "-", "-", "-", "-", "-", "alice", "bob"}
)

func main() {
	n := flag.Int("n", 2_000_000, "number of lines")
	seed := flag.Uint64("seed", 1, "random seed (same seed, same bytes)")
	out := flag.String("o", "", "output file (default stdout)")
	flag.Parse()
	var w io.Writer = os.Stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
		defer f.Close()
		w = f
	}
	if err := write(w, *n, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// write emits n lines made from seed.
func write(w io.Writer, n int, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	bw := bufio.NewWriterSize(w, 1<<20)
	ts := time.Date(2015, 5, 17, 10, 5, 3, 0, time.UTC)
	buf := make([]byte, 0, 512)
	for i := 0; i < n; i++ {
		ts = ts.Add(time.Duration(r.IntN(2000)) * time.Millisecond)
		buf = buf[:0]
		buf = strconv.AppendInt(buf, int64(1+r.IntN(223)), 10)
		for j := 0; j < 3; j++ {
			buf = append(buf, '.')
			buf = strconv.AppendInt(buf, int64(r.IntN(256)), 10)
		}
		buf = append(buf, " - "...)
		buf = append(buf, users[r.IntN(len(users))]...)
		buf = append(buf, " ["...)
		buf = ts.AppendFormat(buf, "02/Jan/2006:15:04:05 -0700")
		buf = append(buf, "] \""...)
		buf = append(buf, methods[r.IntN(len(methods))]...)
		buf = append(buf, ' ')
		buf = append(buf, dirs[r.IntN(len(dirs))]...)
		f := files[r.IntN(len(files))]
		buf = append(buf, f...)
		if f[len(f)-1] == '=' || f[len(f)-1] == '-' {
			buf = strconv.AppendInt(buf, int64(r.IntN(100000)), 10)
			if f[len(f)-1] == '-' {
				buf = append(buf, ".pdf"...)
			}
		}
		buf = append(buf, ' ')
		buf = append(buf, protos[r.IntN(len(protos))]...)
		buf = append(buf, "\" "...)
		st := statuses[r.IntN(len(statuses))]
		buf = strconv.AppendInt(buf, int64(st), 10)
		buf = append(buf, ' ')
		if st == 304 || r.IntN(20) == 0 {
			buf = append(buf, '-')
		} else {
			buf = strconv.AppendInt(buf, int64(r.IntN(250000)), 10)
		}
		buf = append(buf, " \""...)
		buf = append(buf, referers[r.IntN(len(referers))]...)
		buf = append(buf, "\" \""...)
		buf = append(buf, agents[r.IntN(len(agents))]...)
		buf = append(buf, "\"\n"...)
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}
