/*
 * Kafka Streams' side of Sluice's side-by-side harness (bench/peers/run):
 * the workloads of bench/peers/peer_tool.c on the same topics with the same
 * serdes as bench/peers/sluice_peer.c, one stream thread, Kafka Streams'
 * defaults for everything the harness does not set (see
 * bench/peers/README.md). Runs until SIGTERM, then closes.
 *
 *   java -cp ... sluice.peers.Peer WORKLOAD --bootstrap B --app-id ID
 *        --in TOPIC --out TOPIC [--table TOPIC] --guarantee G
 *        --commit-interval-ms MS --state-dir DIR
 *
 *   pipe       bytes: mapValues(flip byte 12's case) -> filter('#' at 11)
 *   wordcount  strings: flatMap(word -> (word, word)) -> groupByKey
 *              (repartition topic) -> count (in-memory store) -> toStream
 *              -> to(String, Long)
 *   windows    bytes: groupByKey -> windowedBy(tumbling 1 min, no grace)
 *              -> count (in-memory window store) -> toStream
 *              -> to(TimeWindowedSerde, Long)
 *   enrich     strings: stream.join(table (in-memory store), v + "|" + t)
 *   json       strings parsed once with Jackson: filter("ok" true)
 *              -> add "tier" -> write
 *
 * Prints "started" once KafkaStreams.start() returned.
 */
package sluice.peers;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.WindowedSerdes;
import org.apache.kafka.streams.state.Stores;

public final class Peer {
    private static final int MARK_AT = 11;
    private static final int FLIP_AT = 12;
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private static void usage() {
        System.err.println("usage: Peer pipe|wordcount|windows|enrich|json --bootstrap B"
                + " --app-id ID --in T --out T [--table T] --guarantee G"
                + " --commit-interval-ms MS --state-dir DIR");
        System.exit(2);
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1 || args.length % 2 == 0) usage();
        String wl = args[0];
        Map<String, String> o = new HashMap<>();
        for (int i = 1; i + 1 < args.length; i += 2) o.put(args[i], args[i + 1]);
        for (String k : List.of("--bootstrap", "--app-id", "--in", "--out", "--guarantee",
                "--commit-interval-ms", "--state-dir"))
            if (!o.containsKey(k)) usage();
        String in = o.get("--in"), out = o.get("--out");

        StreamsBuilder b = new StreamsBuilder();
        switch (wl) {
            case "pipe": {
                KStream<byte[], byte[]> s =
                        b.stream(in, Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()));
                s.mapValues(v -> {
                    byte[] c = v.clone();
                    if (c.length > FLIP_AT) c[FLIP_AT] ^= 0x20;
                    return c;
                }).filter((k, v) -> !(v.length > MARK_AT && v[MARK_AT] == '#'))
                        .to(out, Produced.with(Serdes.ByteArray(), Serdes.ByteArray()));
                break;
            }
            case "wordcount": {
                KStream<String, String> s =
                        b.stream(in, Consumed.with(Serdes.String(), Serdes.String()));
                s.flatMap((k, line) -> {
                    List<KeyValue<String, String>> w = new ArrayList<>(8);
                    for (String word : line.split(" "))
                        if (!word.isEmpty()) w.add(KeyValue.pair(word, word));
                    return w;
                }).groupByKey(Grouped.with(Serdes.String(), Serdes.String()))
                        .count(Materialized.<String, Long>as(Stores.inMemoryKeyValueStore("counts"))
                                .withKeySerde(Serdes.String()).withValueSerde(Serdes.Long()))
                        .toStream().to(out, Produced.with(Serdes.String(), Serdes.Long()));
                break;
            }
            case "windows": {
                KStream<byte[], byte[]> s =
                        b.stream(in, Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()));
                Duration size = Duration.ofMinutes(1);
                s.groupByKey(Grouped.with(Serdes.ByteArray(), Serdes.ByteArray()))
                        .windowedBy(TimeWindows.ofSizeWithNoGrace(size))
                        .count(Materialized.<byte[], Long>as(
                                        Stores.inMemoryWindowStore("win", size, size, false))
                                .withKeySerde(Serdes.ByteArray()).withValueSerde(Serdes.Long()))
                        .toStream()
                        .to(out, Produced.with(
                                WindowedSerdes.timeWindowedSerdeFrom(byte[].class, size.toMillis()),
                                Serdes.Long()));
                break;
            }
            case "enrich": {
                String tableTopic = o.get("--table");
                if (tableTopic == null) usage();
                KTable<String, String> t = b.table(tableTopic,
                        Consumed.with(Serdes.String(), Serdes.String()),
                        Materialized.<String, String>as(Stores.inMemoryKeyValueStore("table"))
                                .withKeySerde(Serdes.String()).withValueSerde(Serdes.String()));
                b.stream(in, Consumed.with(Serdes.String(), Serdes.String()))
                        .join(t, (v, tv) -> v + "|" + tv)
                        .to(out, Produced.with(Serdes.String(), Serdes.String()));
                break;
            }
            case "json": {
                KStream<String, String> s =
                        b.stream(in, Consumed.with(Serdes.String(), Serdes.String()));
                s.mapValues(v -> {
                    try {
                        return (JsonNode) MAPPER.readTree(v);
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                }).filter((k, n) -> n.path("ok").asBoolean(false))
                        .mapValues(n -> {
                            ObjectNode on = (ObjectNode) n;
                            on.put("tier", on.path("amount").asDouble() >= 500 ? "gold" : "std");
                            try {
                                return MAPPER.writeValueAsString(on);
                            } catch (Exception e) {
                                throw new RuntimeException(e);
                            }
                        }).to(out, Produced.with(Serdes.String(), Serdes.String()));
                break;
            }
            default:
                usage();
        }

        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, o.get("--app-id"));
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, o.get("--bootstrap"));
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, o.get("--guarantee"));
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, o.get("--commit-interval-ms"));
        p.put(StreamsConfig.STATE_DIR_CONFIG, o.get("--state-dir"));
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);

        KafkaStreams ks = new KafkaStreams(b.build(), p);
        CountDownLatch done = new CountDownLatch(1);
        ks.setStateListener((now, before) -> {
            if (now == KafkaStreams.State.ERROR) {
                System.err.println("Peer: Kafka Streams went to ERROR");
                Runtime.getRuntime().halt(1);
            }
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            ks.close(Duration.ofSeconds(60));
            done.countDown();
        }));
        ks.start();
        System.out.println("started");
        System.out.flush();
        done.await();
    }
}
