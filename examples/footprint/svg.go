package main

// The chart: RSS per idle connection against N, one line per variant, on a
// log scale, drawn as plain SVG so that the module needs no plotting
// library.

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"os"
	"runtime"
	"slices"
)

// chartColors are the series colors, by variant.
var chartColors = map[string]string{
	"stackslice":            "#d62728",
	"stackslice-compressed": "#ff9896",
	"stackslice-deadline":   "#ff7f0e",
	"net":                   "#1f77b4",
	"nbio":                  "#2ca02c",
	"gnet":                  "#9467bd",
	"stackslice-http":       "#8c564b",
	"nethttp":               "#17becf",
	"nbhttp":                "#bcbd22",
	"kernel":                "#7f7f7f",
}

type point struct{ x, y float64 }

type series struct {
	name   string
	label  string
	points []point
	dash   string // stroke-dasharray, "" for a solid line
}

// chartSeries collects, per variant, RSS per connection at every N, and the
// kernel's Slab per socket averaged over the variants.
func chartSeries(reports []report) []series {
	var out []series
	for _, v := range allVariants {
		s := series{name: v, label: v}
		if isHTTP(v) {
			s.dash = "2 3" // dotted: HTTP, not echo
		}
		for _, rep := range reports {
			for i := range rep.Results {
				r := &rep.Results[i]
				if p := r.rssPerConn(); r.name == v && p != nil && *p > 0 {
					s.points = append(s.points, point{float64(rep.N), *p})
				}
			}
		}
		if len(s.points) > 0 {
			out = append(out, s)
		}
	}
	k := series{name: "kernel", label: "kernel/socket", dash: "6 4"}
	for _, rep := range reports {
		sum, cnt := 0.0, 0
		for i := range rep.Results {
			if p := rep.Results[i].kernelPerConn(); p != nil && *p > 0 {
				sum += *p
				cnt++
			}
		}
		if cnt > 0 {
			k.points = append(k.points, point{float64(rep.N), sum / float64(cnt)})
		}
	}
	if len(k.points) > 0 {
		out = append(out, k)
	}
	for i := range out {
		slices.SortFunc(out[i].points, func(a, b point) int { return int(a.x - b.x) })
	}
	return out
}

// writeSVGFile writes the chart for reports to path.
func writeSVGFile(path string, reports []report) error {
	b := renderSVG(chartSeries(reports))
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// niceTicks returns the values 1, 2, 5 x 10^k from the largest one at or
// below lo to the smallest one at or above hi (0 < lo <= hi).
func niceTicks(lo, hi float64) []float64 {
	var ticks []float64
	for e := math.Floor(math.Log10(lo)); ; e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v <= lo {
				ticks = ticks[:0] // keep only the last value at or below lo
			}
			ticks = append(ticks, v)
			if v >= hi {
				return ticks
			}
		}
	}
}

func bytesLabel(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%g kB", v/1000)
	}
	return fmt.Sprintf("%g B", v)
}

// legendBytes formats v with three significant digits.
func legendBytes(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.3g kB", v/1000)
	}
	return fmt.Sprintf("%.0f B", v)
}

// renderSVG draws the chart.
func renderSVG(ss []series) []byte {
	const (
		width, height = 860, 460
		left, right   = 78, 290
		top, bottom   = 56, 58
		pw, ph        = width - left - right, height - top - bottom
	)
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", left-40, chartTitle(ss))
	fmt.Fprintf(&b, `<text x="%d" y="40" fill="#555">examples/footprint, %s %s/%s, loopback; lower is better</text>`+"\n", left-40, html.EscapeString(runtime.Version()), runtime.GOOS, runtime.GOARCH)

	lo, hi, maxN := math.Inf(1), math.Inf(-1), 0.0
	for _, s := range ss {
		for _, p := range s.points {
			lo, hi, maxN = math.Min(lo, p.y), math.Max(hi, p.y), math.Max(maxN, p.x)
		}
	}
	if len(ss) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d">no measurements</text>`+"\n</svg>\n", left+pw/2-50, top+ph/2)
		return b.Bytes()
	}
	yt := niceTicks(lo, hi)
	ylo, yhi := math.Log10(yt[0]), math.Log10(yt[len(yt)-1])
	if yhi == ylo {
		yhi = ylo + 1
	}
	step := xStep(maxN * 1.05)
	xmax := math.Ceil(maxN*1.05/step) * step // room to the right of the last N
	px := func(x float64) float64 { return left + x/xmax*pw }
	py := func(y float64) float64 { return top + ph - (math.Log10(y)-ylo)/(yhi-ylo)*ph }

	// Grid and axes.
	for _, t := range yt {
		y := py(t)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e5e5e5"/>`+"\n", left, y, left+pw, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", left-6, y, bytesLabel(t))
	}
	for x := 0.0; x <= xmax+step/2; x += step {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e5e5e5"/>`+"\n", px(x), top, px(x), top+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%g</text>`+"\n", px(x), top+ph+16, x)
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>`+"\n", left, top, pw, ph)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">N, idle connections held by one server process</text>`+"\n", left+pw/2, height-14)
	fmt.Fprintf(&b, `<text transform="translate(16 %d) rotate(-90)" text-anchor="middle">bytes per connection (log scale)</text>`+"\n", top+ph/2)

	// Series and legend.
	for i, s := range ss {
		color := chartColors[s.name]
		dash := ""
		if s.dash != "" {
			dash = ` stroke-dasharray="` + s.dash + `"`
		}
		if len(s.points) > 1 {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="`, color, dash)
			for j, p := range s.points {
				if j > 0 {
					b.WriteByte(' ')
				}
				fmt.Fprintf(&b, "%.1f,%.1f", px(p.x), py(p.y))
			}
			b.WriteString(`"/>` + "\n")
		}
		for _, p := range s.points {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s at N=%g: %.0f bytes</title></circle>`+"\n", px(p.x), py(p.y), color, html.EscapeString(s.label), p.x, p.y)
		}
		// The legend gives the value at the largest N.
		last := s.points[len(s.points)-1]
		ly := top + 34 + 22*i
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`+"\n", left+pw+14, ly, left+pw+38, ly, color, dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d" dominant-baseline="middle">%s: %s</text>`+"\n", left+pw+44, ly, html.EscapeString(s.label), legendBytes(last.y))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#555">at N = %g:</text>`+"\n", left+pw+14, top+10, maxN)
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// chartTitle names what the chart's series measure: echo servers, HTTP
// servers, or both.
func chartTitle(ss []series) string {
	var echo, http bool
	for _, s := range ss {
		switch {
		case s.name == "kernel":
		case isHTTP(s.name):
			http = true
		default:
			echo = true
		}
	}
	switch {
	case http && echo:
		return "Server memory per idle connection (VmRSS, after one echoed message or HTTP GET; HTTP dotted)"
	case http:
		return "Server memory per idle HTTP keep-alive connection (VmRSS, after one GET)"
	}
	return "Server memory per idle TCP connection (VmRSS, after one echoed message)"
}

// xStep returns a 1-2-5 step giving at most 10 intervals up to maxN.
func xStep(maxN float64) float64 {
	for e := 0.0; ; e++ {
		for _, m := range []float64{1, 2, 5} {
			if s := m * math.Pow(10, e); maxN/s <= 10 {
				return s
			}
		}
	}
}
