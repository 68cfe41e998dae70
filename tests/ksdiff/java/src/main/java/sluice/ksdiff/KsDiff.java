package sluice.ksdiff;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.common.serialization.LongSerializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.EmitStrategy;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.JoinWindows;
import org.apache.kafka.streams.kstream.Joined;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.StreamJoined;
import org.apache.kafka.streams.kstream.ValueJoiner;
import org.apache.kafka.streams.kstream.KGroupedStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.SessionWindowedKStream;
import org.apache.kafka.streams.kstream.SessionWindows;
import org.apache.kafka.streams.kstream.SlidingWindows;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindowedKStream;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.kstream.WindowedSerdes;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.test.TestRecord;

/**
 * The Kafka Streams side of the differential test: every case of a
 * directory through TopologyTestDriver, in one JVM.
 *
 * Usage: KsDiff CASE_DIR OUT_DIR
 *
 * For each CASE_DIR/NAME.case it writes OUT_DIR/NAME.out. The formats are
 * described in tests/ksdiff/README; in short, a case is
 *
 *   ksdiff kind=K size=N advance=N grace=N agg=A emit=E cache=on|off
 *   key TAB value TAB timestamp        (\N: null; '#' lines are comments)
 *
 * and an output line is
 *
 *   input# TAB key-hex TAB value-hex TAB timestamp      (\N: null)
 *
 * where input# is the 0-based number of the input record whose processing
 * produced the output. A case that fails writes one line "!error ...".
 */
public final class KsDiff {
    private KsDiff() {
    }

    static final class Input {
        final String key;
        final Long value;
        final long ts;
        /* join and table cases: the input topic ("left" / "right") and a
         * string value */
        final String topic;
        final String svalue;

        Input(String key, Long value, long ts) {
            this.key = key;
            this.value = value;
            this.ts = ts;
            this.topic = "in";
            this.svalue = null;
        }

        Input(String topic, String key, String svalue, long ts) {
            this.key = key;
            this.value = null;
            this.ts = ts;
            this.topic = topic;
            this.svalue = svalue;
        }
    }

    static final class Case {
        final Map<String, String> spec = new HashMap<>();
        final List<Input> inputs = new ArrayList<>();

        String get(String k) {
            String v = spec.get(k);
            if (v == null)
                throw new IllegalArgumentException("spec has no " + k + "=");
            return v;
        }

        long num(String k) {
            return Long.parseLong(get(k));
        }
    }

    static Case parse(Path p) throws IOException {
        List<String> lines = Files.readAllLines(p, StandardCharsets.UTF_8);
        if (lines.isEmpty() || !lines.get(0).startsWith("ksdiff "))
            throw new IllegalArgumentException(p + ": first line is not a ksdiff spec");
        Case c = new Case();
        for (String f : lines.get(0).substring(7).trim().split(" +")) {
            int eq = f.indexOf('=');
            if (eq <= 0)
                throw new IllegalArgumentException(p + ": bad spec field " + f);
            c.spec.put(f.substring(0, eq), f.substring(eq + 1));
        }
        for (int i = 1; i < lines.size(); i++) {
            String l = lines.get(i);
            if (l.isEmpty() || l.startsWith("#"))
                continue;
            String[] t = l.split("\t", -1);
            if (t.length == 4) {
                // side TAB key TAB string value TAB ts
                c.inputs.add(new Input(t[0].equals("L") ? "left" : "right",
                                       t[1].equals("\\N") ? null : t[1],
                                       t[2].equals("\\N") ? null : t[2],
                                       Long.parseLong(t[3])));
                continue;
            }
            if (t.length != 3)
                throw new IllegalArgumentException(p + ":" + (i + 1) + ": not key TAB value TAB ts");
            c.inputs.add(new Input(t[0].equals("\\N") ? null : t[0],
                                   t[1].equals("\\N") ? null : Long.valueOf(t[1]),
                                   Long.parseLong(t[2])));
        }
        return c;
    }

    /* The aggregation functions, written the same way in sluice_run.c. */
    static Long sum(Long a, Long b) {
        return (a == null ? 0L : a) + (b == null ? 0L : b);
    }

    static String concat(String agg, Long v) {
        return agg + "," + v; // a null value appends "null", as Java does
    }

    static String merge(String a, String b) {
        return a + "|" + b;
    }

    /* The joiner, written the same way in sluice_run.c: Java's string
     * concatenation prints an absent side as "null". */
    static final ValueJoiner<String, String, String> JOINER = (l, r) -> l + "+" + r;

    /* The foreign key of a left value "FK:payload", as sluice_run.c's:
     * what comes before the ':', none if that is empty or absent. */
    static String fkOf(String v) {
        int i = v.indexOf(':');
        return i > 0 ? v.substring(0, i) : null;
    }

    /* The table filter, as sluice_run.c's: the value's last digit is even. */
    static boolean even(String k, String v) {
        return (v.charAt(v.length() - 1) - '0') % 2 == 0;
    }

    /* A table materialized when it is built, as every Sluice table is: a
     * filter of it then gets old values (KTableFilter asks a materialized
     * parent for them) and sends no tombstone for a row that was never in
     * its result; Kafka Streams' table() without Materialized is not, and
     * its filter then does send them (tests/ksdiff/DEVIATIONS). */
    static KTable<String, String> materialized(StreamsBuilder b, String topic) {
        return b.table(topic, Consumed.with(Serdes.String(), Serdes.String()),
                       Materialized.<String, String, KeyValueStore<Bytes, byte[]>>as(topic + "-store")
                           .withKeySerde(Serdes.String()).withValueSerde(Serdes.String()));
    }

    static boolean isJoinCase(Case c) {
        String kind = c.get("kind");
        return kind.endsWith("-join") || kind.equals("tfilter");
    }

    /* Joins (kind=ss-join, st-join, tt-join; join=inner, left, outer) and
     * a table filter (kind=tfilter) over the topics "left" and "right"
     * (string keys and values) into "out". */
    static Topology joinTopology(Case c) {
        String kind = c.get("kind");
        StreamsBuilder b = new StreamsBuilder();
        Consumed<String, String> cs = Consumed.with(Serdes.String(), Serdes.String());
        Produced<String, String> ps = Produced.with(Serdes.String(), Serdes.String());
        if (kind.equals("tfilter")) {
            // materialized, as every Sluice table is: the filter then gets
            // old values and sends no tombstone for a row that was never in
            // its result (an unmaterialized source table would)
            materialized(b, "left")
                .filter(KsDiff::even)
                .toStream().to("out", ps);
            return b.build();
        }
        String join = c.get("join");
        boolean rekey = "on".equals(c.spec.get("rekey"));
        boolean filt = "on".equals(c.spec.get("filter"));
        if (kind.equals("ss-join")) {
            KStream<String, String> l = b.stream("left", cs);
            if (rekey)
                l = l.selectKey((k, v) -> k);
            KStream<String, String> r = b.stream("right", cs);
            JoinWindows w = JoinWindows.ofTimeDifferenceAndGrace(
                    Duration.ofMillis(c.num("after")), Duration.ofMillis(c.num("grace")))
                .before(Duration.ofMillis(c.num("before")));
            StreamJoined<String, String, String> sj =
                StreamJoined.with(Serdes.String(), Serdes.String(), Serdes.String());
            KStream<String, String> o;
            switch (join) {
            case "inner": o = l.join(r, JOINER, w, sj); break;
            case "left": o = l.leftJoin(r, JOINER, w, sj); break;
            case "outer": o = l.outerJoin(r, JOINER, w, sj); break;
            default: throw new IllegalArgumentException("join=" + join);
            }
            o.to("out", ps);
        } else if (kind.equals("st-join")) {
            KStream<String, String> l = b.stream("left", cs);
            if (rekey)
                l = l.selectKey((k, v) -> k);
            KTable<String, String> r = filt ? materialized(b, "right") : b.table("right", cs);
            if (filt)
                r = r.filter(KsDiff::even);
            // the serdes for a repartition of the stream (rekey=on)
            Joined<String, String, String> jd =
                Joined.with(Serdes.String(), Serdes.String(), Serdes.String());
            switch (join) {
            case "inner": l.join(r, JOINER, jd).to("out", ps); break;
            case "left": l.leftJoin(r, JOINER, jd).to("out", ps); break;
            default: throw new IllegalArgumentException("join=" + join);
            }
        } else if (kind.equals("vst-join")) {
            // a versioned table (history=N) and, for grace=N > 0,
            // Joined.withGracePeriod (KIP-914, KIP-923)
            KStream<String, String> l = b.stream("left", cs);
            KTable<String, String> r = b.table("right", cs,
                Materialized.<String, String>as(Stores.persistentVersionedKeyValueStore(
                        "right-store", Duration.ofMillis(c.num("history"))))
                    .withKeySerde(Serdes.String()).withValueSerde(Serdes.String()));
            Joined<String, String, String> jd =
                Joined.with(Serdes.String(), Serdes.String(), Serdes.String());
            if (c.num("grace") > 0)
                jd = jd.withGracePeriod(Duration.ofMillis(c.num("grace")));
            switch (join) {
            case "inner": l.join(r, JOINER, jd).to("out", ps); break;
            case "left": l.leftJoin(r, JOINER, jd).to("out", ps); break;
            default: throw new IllegalArgumentException("join=" + join);
            }
        } else if (kind.equals("fk-join")) {
            // left values "FK:payload" refer to right keys (KIP-213)
            KTable<String, String> l = b.table("left", cs);
            KTable<String, String> r = b.table("right", cs);
            KTable<String, String> o;
            switch (join) {
            case "inner": o = l.join(r, KsDiff::fkOf, JOINER); break;
            case "left": o = l.leftJoin(r, KsDiff::fkOf, JOINER); break;
            default: throw new IllegalArgumentException("join=" + join);
            }
            o.toStream().to("out", ps);
        } else if (kind.equals("tt-join")) {
            KTable<String, String> l = b.table("left", cs);
            KTable<String, String> r = filt ? materialized(b, "right") : b.table("right", cs);
            if (filt)
                r = r.filter(KsDiff::even);
            KTable<String, String> o;
            switch (join) {
            case "inner": o = l.join(r, JOINER); break;
            case "left": o = l.leftJoin(r, JOINER); break;
            case "outer": o = l.outerJoin(r, JOINER); break;
            default: throw new IllegalArgumentException("join=" + join);
            }
            o.toStream().to("out", ps);
        } else {
            throw new IllegalArgumentException("kind=" + kind);
        }
        return b.build();
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    static Topology topology(Case c) {
        String kind = c.get("kind");
        String agg = c.get("agg");
        String emit = c.get("emit");
        long size = c.num("size");
        long grace = c.num("grace");
        Duration sizeD = Duration.ofMillis(size);
        Duration graceD = Duration.ofMillis(grace);
        boolean fin = emit.equals("final");
        if (!fin && !emit.equals("update") && !emit.equals("suppress"))
            throw new IllegalArgumentException("emit=" + emit);

        StreamsBuilder b = new StreamsBuilder();
        KGroupedStream<String, Long> g = b
            .stream("in", Consumed.with(Serdes.String(), Serdes.Long()))
            .groupByKey(Grouped.with(Serdes.String(), Serdes.Long()));

        KTable<Windowed<String>, ?> table;
        Serde<Windowed<String>> keySerde;
        if (kind.equals("session")) {
            SessionWindowedKStream<String, Long> w =
                g.windowedBy(SessionWindows.ofInactivityGapAndGrace(sizeD, graceD));
            if (fin)
                w = w.emitStrategy(EmitStrategy.onWindowClose());
            switch (agg) {
            case "count": table = w.count(); break;
            case "reduce": table = w.reduce(KsDiff::sum); break;
            case "aggregate":
                table = w.aggregate(() -> "", (k, v, a) -> concat(a, v), (k, a1, a2) -> merge(a1, a2),
                                    Materialized.with(Serdes.String(), Serdes.String()));
                break;
            default: throw new IllegalArgumentException("agg=" + agg);
            }
            keySerde = WindowedSerdes.sessionWindowedSerdeFrom(String.class);
        } else {
            TimeWindowedKStream<String, Long> w;
            switch (kind) {
            case "tumbling":
                w = g.windowedBy(TimeWindows.ofSizeAndGrace(sizeD, graceD));
                break;
            case "hopping":
                w = g.windowedBy(TimeWindows.ofSizeAndGrace(sizeD, graceD)
                                 .advanceBy(Duration.ofMillis(c.num("advance"))));
                break;
            case "sliding":
                w = g.windowedBy(SlidingWindows.ofTimeDifferenceAndGrace(sizeD, graceD));
                break;
            default: throw new IllegalArgumentException("kind=" + kind);
            }
            if (fin)
                w = w.emitStrategy(EmitStrategy.onWindowClose());
            switch (agg) {
            case "count": table = w.count(); break;
            case "reduce": table = w.reduce(KsDiff::sum); break;
            case "aggregate":
                table = w.aggregate(() -> "", (k, v, a) -> concat(a, v),
                                    Materialized.with(Serdes.String(), Serdes.String()));
                break;
            default: throw new IllegalArgumentException("agg=" + agg);
            }
            keySerde = WindowedSerdes.timeWindowedSerdeFrom(String.class, size);
        }
        if (emit.equals("suppress"))
            table = ((KTable) table).suppress(
                Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()));
        Serde valueSerde = agg.equals("aggregate") ? Serdes.String() : Serdes.Long();
        ((KTable) table).toStream().to("out", Produced.with(keySerde, valueSerde));
        return b.build();
    }

    static final char[] HEX = "0123456789abcdef".toCharArray();

    static String hex(byte[] b) {
        if (b == null)
            return "\\N";
        char[] o = new char[b.length * 2];
        for (int i = 0; i < b.length; i++) {
            o[2 * i] = HEX[(b[i] >> 4) & 15];
            o[2 * i + 1] = HEX[b[i] & 15];
        }
        return new String(o);
    }

    static void run(Case c, Path stateDir, BufferedWriter w) throws IOException {
        String cache = c.get("cache");
        if (!cache.equals("on") && !cache.equals("off"))
            throw new IllegalArgumentException("cache=" + cache);
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, "ksdiff");
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG,
                  cache.equals("on") ? "10485760" : "0");
        // onWindowClose emits at most once per wall-clock interval, and the
        // driver's wall clock stands still: 0 lets it emit after every record
        props.put("__emit.interval.ms.kstreams.windowed.aggregation__", "0");
        // the same for left/outer stream-stream joins' unmatched records
        // (4.4.0's driver defaults it to 0 itself), or Kafka Streams'
        // runtime default of 1000 ms (throttle=on): one scan, the wall
        // clock standing still
        props.put("__emit.interval.ms.kstreams.outer.join.spurious.results.fix__",
                  "on".equals(c.spec.get("throttle")) ? "1000" : "0");
        if (isJoinCase(c)) {
            try (TopologyTestDriver d = new TopologyTestDriver(joinTopology(c), props)) {
                Map<String, TestInputTopic<String, String>> ins = new HashMap<>();
                for (String tp : new String[] {"left", "right"})
                    ins.put(tp, d.createInputTopic(tp, new StringSerializer(), new StringSerializer()));
                TestOutputTopic<byte[], byte[]> out =
                    d.createOutputTopic("out", new ByteArrayDeserializer(), new ByteArrayDeserializer());
                int n = 0;
                for (Input r : c.inputs) {
                    ins.get(r.topic).pipeInput(r.key, r.svalue, r.ts);
                    for (TestRecord<byte[], byte[]> o : out.readRecordsToList()) {
                        w.write(n + "\t" + hex(o.key()) + "\t" + hex(o.value()) + "\t" + o.timestamp() + "\n");
                    }
                    n++;
                }
            }
            return;
        }
        try (TopologyTestDriver d = new TopologyTestDriver(topology(c), props)) {
            TestInputTopic<String, Long> in =
                d.createInputTopic("in", new StringSerializer(), new LongSerializer());
            TestOutputTopic<byte[], byte[]> out =
                d.createOutputTopic("out", new ByteArrayDeserializer(), new ByteArrayDeserializer());
            int n = 0;
            for (Input r : c.inputs) {
                in.pipeInput(r.key, r.value, r.ts);
                for (TestRecord<byte[], byte[]> o : out.readRecordsToList()) {
                    w.write(n + "\t" + hex(o.key()) + "\t" + hex(o.value()) + "\t" + o.timestamp() + "\n");
                }
                n++;
            }
        }
    }

    /** One case into its .out file; false if it failed (an !error line). */
    static boolean runFile(Path p, Path outDir, Path stateDir) {
        String name = p.getFileName().toString();
        Path o = outDir.resolve(name.substring(0, name.length() - 5) + ".out");
        try (BufferedWriter w = Files.newBufferedWriter(o, StandardCharsets.UTF_8)) {
            try {
                run(parse(p), stateDir, w);
                return true;
            } catch (Exception e) {
                StringWriter sw = new StringWriter();
                e.printStackTrace(new PrintWriter(sw));
                System.err.println("ksdiff: " + p + ": " + sw);
                w.write("!error " + e.toString().replace('\n', ' ') + "\n");
                return false;
            }
        } catch (IOException e) {
            System.err.println("ksdiff: " + o + ": " + e);
            return false;
        }
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 2) {
            System.err.println("usage: KsDiff CASE_DIR OUT_DIR");
            System.exit(2);
        }
        Path cases = Paths.get(args[0]);
        Path outDir = Paths.get(args[1]);
        Files.createDirectories(outDir);
        List<Path> files = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(cases, "*.case")) {
            for (Path p : ds)
                files.add(p);
        }
        files.sort(Comparator.comparing(Path::toString));
        // Cases are independent: a few threads, each with a state directory
        // of its own (two drivers of one application.id must not share one).
        int threads = Integer.getInteger("ksdiff.threads", 2);
        Path stateBase = Files.createTempDirectory("ksdiff-state");
        AtomicInteger failed = new AtomicInteger();
        AtomicInteger next = new AtomicInteger();
        List<Thread> pool = new ArrayList<>();
        try {
            for (int t = 0; t < threads; t++) {
                Path stateDir = stateBase.resolve("t" + t);
                Thread th = new Thread(() -> {
                    for (int i; (i = next.getAndIncrement()) < files.size(); )
                        if (!runFile(files.get(i), outDir, stateDir))
                            failed.incrementAndGet();
                });
                pool.add(th);
                th.start();
            }
            for (Thread th : pool)
                th.join();
        } catch (InterruptedException e) {
            throw new IOException(e);
        } finally {
            try (Stream<Path> s = Files.walk(stateBase)) {
                s.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
        System.err.println("ksdiff: Kafka Streams ran " + files.size() + " cases"
                           + (failed.get() > 0 ? ", " + failed.get() + " failed" : ""));
    }
}
