package main

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"
)

// report is every server measured at one N.
type report struct {
	N       int
	Results []result
}

// jsonReport is the -json output.
type jsonReport struct {
	N       int          `json:"n"`
	Servers []jsonServer `json:"servers"`
}

// jsonServer is one server in jsonReport; memory in bytes, delays in
// milliseconds, null when the server could not be measured.
type jsonServer struct {
	Name           string   `json:"name"`
	RSSPerConn     *int64   `json:"rss_per_conn"`
	HeapPerConn    *int64   `json:"heap_per_conn"`
	BroadcastP50MS *float64 `json:"broadcast_p50_ms"`
	BroadcastP99MS *float64 `json:"broadcast_p99_ms"`
	DeliveredOK    bool     `json:"delivered_ok"`
}

func roundPtr(v *float64) *int64 {
	if v == nil {
		return nil
	}
	r := int64(math.Round(*v))
	return &r
}

// round3 rounds v to the microsecond (three decimals of a millisecond).
func round3(v *float64) *float64 {
	if v == nil {
		return nil
	}
	r := math.Round(*v*1000) / 1000
	return &r
}

func (rep report) jsonReport() jsonReport {
	j := jsonReport{N: rep.N, Servers: []jsonServer{}}
	for i := range rep.Results {
		r := &rep.Results[i]
		j.Servers = append(j.Servers, jsonServer{
			Name:           r.name,
			RSSPerConn:     roundPtr(r.rssPerConn()),
			HeapPerConn:    roundPtr(r.heapPerConn()),
			BroadcastP50MS: round3(r.delayQuantile(0.50)),
			BroadcastP99MS: round3(r.delayQuantile(0.99)),
			DeliveredOK:    r.deliveredOK(),
		})
	}
	return j
}

// writeTable prints rep as a table.
func writeTable(w io.Writer, rep report, o options) {
	var ref *result
	for i := range rep.Results {
		if rep.Results[i].name == "nethttp" {
			ref = &rep.Results[i]
		}
	}
	ratio := func(v, base *float64) string {
		if v == nil || base == nil || *base <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", *v / *base)
	}
	fmt.Fprintf(w, "\nN = %d WebSocket connections per server, idle after one broadcast; %d broadcasts of %d bytes, one every %v\n",
		rep.N, o.broadcasts, o.size, o.interval)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "server\tconnected\tRSS/conn\tx nethttp\theap+stack/conn\tbroadcast p50 ms\tp99 ms\tp99 x nethttp\tdropped\tdelivered_ok\t\n")
	for i := range rep.Results {
		r := &rep.Results[i]
		if r.err != nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\t-\tfalse\t  %s\n", r.name, r.err)
			continue
		}
		var refRSS, refP99 *float64
		if ref != nil {
			refRSS, refP99 = ref.rssPerConn(), ref.delayQuantile(0.99)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%v\t\n", r.name, r.connected,
			bytesStr(r.rssPerConn()), ratio(r.rssPerConn(), refRSS), bytesStr(r.heapPerConn()),
			msStr(r.delayQuantile(0.50)), msStr(r.delayQuantile(0.99)), ratio(r.delayQuantile(0.99), refP99),
			r.dropped, r.deliveredOK())
	}
	tw.Flush()
}

// writeNotes explains the table's columns.
func writeNotes(w io.Writer) {
	fmt.Fprintf(w, "\nRSS/conn: VmRSS growth / connections, idle after the upgrade and one broadcast (the headline)\n")
	fmt.Fprintf(w, "heap+stack/conn: Go HeapInuse+StackInuse growth / connections\n")
	fmt.Fprintf(w, "broadcast: from the publisher stamping a message until the last client has it (clients and server share 2 cores)\n")
	fmt.Fprintf(w, "delivered_ok: every connection had every message, in order, and none was dropped (with -slow: exactly the slow ones were)\n")
}

func bytesStr(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.0f", *v)
}

func msStr(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *v)
}
