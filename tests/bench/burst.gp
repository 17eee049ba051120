# burst.gp: one burst-benchmark run as four stacked panels (tests/bench/burst.sh).
#
#   gnuplot -e "csv='run.csv'; png='run.png'; ttl='...'; off=1.0; s0=20; s1=40; \
#               o0=-1; o1=-1" tests/bench/burst.gp
#
# csv: stats_sampler's output; off: its t when the producer started (x = 0
# there); s0/s1: the spike, o0/o1: the sink outage (o1 <= o0: none), both in
# seconds from the producer's start; shaded in every panel.

# libgd's png: a quarter of pngcairo's bytes, for files that are checked in.
set terminal png size 1000,900 font "DejaVu Sans,9"
set output png
set datafile separator ","
set style data lines
set grid xtics ytics lc rgb "#dddddd"
set key top left horizontal maxrows 1 opaque box lc rgb "#cccccc" samplen 1.5 font ",8"
set lmargin 11
set rmargin 11
# One x range for every panel, and room above the pool's largest size.
stats csv skip 1 u ($1-off) nooutput
set xrange [STATS_min:STATS_max]
stats csv skip 1 u 5 nooutput
paused_max = STATS_max
stats csv skip 1 u 6 nooutput
ymax_threads = STATS_max
stats csv skip 1 u 8 nooutput
ymax_threads = STATS_max > ymax_threads ? STATS_max : ymax_threads
set format x ""
set object 1 rect from s0, graph 0 to s1, graph 1 behind fc rgb "#fff2c8" fs solid noborder
if (o1 > o0) {
    set object 2 rect from o0, graph 0 to o1, graph 1 behind fc rgb "#f6cccc" fs solid noborder
}
set multiplot layout 4,1 title ttl font ",11" margins 0.09, 0.91, 0.06, 0.94 spacing 0, 0.012

# 1: throughput, and the breaker's state
set ylabel "events/s"
set format y "%.0s%c"
set yrange [0:*]
set y2label "breaker"
set y2range [-0.15:2.6]
set y2tics ("closed" 0, "half-open" 1, "open" 2)
plot csv skip 1 u ($1-off):2 t "consumed/s" lc rgb "#1f77b4", \
     "" skip 1 u ($1-off):3 t "processed/s (ok)" lc rgb "#2ca02c", \
     "" skip 1 u ($1-off):9 axes x1y2 with steps t "breaker" lc rgb "#d62728" dt 2
unset y2label
unset y2tics
set y2range [*:*]

# 2: end-to-end latency over the daemon's 10 s window, log scale
set ylabel "end-to-end ms (10 s window)"
set logscale y
set format y "%g"
set yrange [*:*]
plot csv skip 1 u ($1-off):11 t "p50" lc rgb "#2ca02c", \
     "" skip 1 u ($1-off):12 t "p99" lc rgb "#d62728", \
     "" skip 1 u ($1-off):18 t "p99 queue wait" lc rgb "#9467bd" dt 2, \
     250 t "250 ms" lc rgb "#888888" dt 3
unset logscale y

# 3: queue, workers; a band while partitions are paused
set ylabel "queue depth"
set format y "%.0s%c"
set yrange [0:*]
set y2label "threads"
set y2tics
set y2range [0:ymax_threads * 1.15 + 1]
plot csv skip 1 u ($1-off):($5 > 0 ? ymax_threads * 1.15 + 1 : 0) axes x1y2 \
        with fillsteps fs transparent solid 0.25 noborder lc rgb "#d62728" \
        t sprintf("partitions paused (at most %d)", paused_max), \
     "" skip 1 u ($1-off):4 t "queue depth" lc rgb "#9467bd", \
     "" skip 1 u ($1-off):6 axes x1y2 with steps t "workers" lc rgb "#ff7f0e", \
     "" skip 1 u ($1-off):7 axes x1y2 t "busy" lc rgb "#ffbb78", \
     "" skip 1 u ($1-off):($8 > 0 ? $8 : NaN) axes x1y2 with steps t "concurrency limit" lc rgb "#8c564b" dt 2

# 4: lag and memory
set xlabel "seconds since the producer started (shaded: spike; red: sink outage)"
set format x "%g"
set ylabel "consumer lag (events)"
set format y "%.1s%c"
set y2label "RSS MiB"
set y2range [0:*]
plot csv skip 1 u ($1-off):10 t "lag" lc rgb "#1f77b4", \
     "" skip 1 u ($1-off):13 axes x1y2 t "RSS MiB" lc rgb "#7f7f7f"

unset multiplot
