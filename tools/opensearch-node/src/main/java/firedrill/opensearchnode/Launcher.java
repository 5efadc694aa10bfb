package firedrill.opensearchnode;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.settings.Settings;
import org.opensearch.common.unit.TimeValue;
import org.opensearch.core.common.transport.TransportAddress;
import org.opensearch.env.Environment;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.index.mapper.MapperExtrasPlugin;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

import sun.misc.Signal;

/**
 * Starts one OpenSearch node for tests and keeps it running until SIGTERM/SIGINT.
 *
 * <pre>
 * java [jvm options] -jar opensearch-node.jar HOME [--http-port N] [--transport-port N]
 *      [--default-replicas N|server] [-Ekey=value ...]
 * </pre>
 *
 * HOME becomes path.home (data in HOME/data, logs in HOME/logs, an empty HOME/config). Ports default
 * to 0 (the kernel picks a free one). {@code --default-replicas} (default 0) is stored as the
 * persistent cluster setting {@code cluster.default_number_of_replicas} once the node has started, so
 * that indices created without {@code index.number_of_replicas} are green on this single node;
 * {@code server} leaves the server default (1, indices stay yellow). When the node has started,
 * exactly one line {@code OPENSEARCH_HTTP=127.0.0.1:PORT} is written to stdout; everything else
 * (logs) goes to stderr. On SIGTERM or SIGINT the node is closed and the JVM exits with status 0.
 */
public final class Launcher {
    static final String NODE_NAME = "firedrill-0";

    /** The plugins a distribution would load from modules/ that the REST surface in use needs. */
    static final Collection<Class<? extends Plugin>> PLUGINS = List.of(
        Netty4Plugin.class,          // http.type / transport.type netty4
        CommonAnalysisPlugin.class,  // analyzers, tokenizers and token filters beyond "standard"
        MapperExtrasPlugin.class     // scaled_float, token_count, rank_feature(s), search_as_you_type
    );

    private Launcher() {}

    public static void main(String[] args) {
        PrintStream out = System.out;
        // Logs and anything else a library prints go to stderr; stdout carries only the ready line.
        System.setOut(System.err);

        Settings settings;
        String defaultReplicas;
        try {
            settings = settings(args);
            defaultReplicas = defaultReplicas(args);
        } catch (IllegalArgumentException e) {
            System.err.println("opensearch-node: " + e.getMessage());
            System.err.println("usage: opensearch-node HOME [--http-port N] [--transport-port N] [--default-replicas N|server] [-Ekey=value ...]");
            System.exit(2);
            return;
        }

        Thread.setDefaultUncaughtExceptionHandler((t, e) -> {
            System.err.println("opensearch-node: uncaught exception in thread [" + t.getName() + "]");
            e.printStackTrace(System.err);
            if (e instanceof Error) {
                // Like the distribution's handler: a fatal error leaves the node in an unknown state.
                Runtime.getRuntime().halt(1);
            }
        });

        CountDownLatch stop = new CountDownLatch(1);
        for (String sig : new String[] {"TERM", "INT"}) {
            try {
                Signal.handle(new Signal(sig), s -> stop.countDown());
            } catch (IllegalArgumentException e) {
                System.err.println("opensearch-node: cannot handle SIG" + sig + ": " + e.getMessage());
            }
        }

        Node node = null;
        AtomicBoolean closed = new AtomicBoolean();
        try {
            Environment environment = InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), null, () -> NODE_NAME);
            node = new FiredrillNode(environment, PLUGINS);
            Node started = node;
            // Any other way out of the JVM (SIGHUP, System.exit elsewhere) still closes the node.
            Runtime.getRuntime().addShutdownHook(new Thread(() -> close(started, closed), "opensearch-node-shutdown"));
            node.start();
            applyDefaultReplicas(node, defaultReplicas);

            TransportAddress http = node.injector().getInstance(HttpServerTransport.class).boundAddress().publishAddress();
            out.println("OPENSEARCH_HTTP=" + http.getAddress() + ":" + http.getPort());
            out.flush();
        } catch (Throwable e) {
            System.err.println("opensearch-node: failed to start");
            e.printStackTrace(System.err);
            if (node != null) {
                close(node, closed);
            }
            System.exit(1);
            return;
        }

        try {
            stop.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        System.err.println("opensearch-node: stopping");
        boolean ok = close(node, closed);
        System.exit(ok ? 0 : 1);
    }

    /**
     * {@code cluster.default_number_of_replicas} is read from the cluster state's metadata settings
     * (persistent/transient), not from node settings, so it cannot be passed with -E.
     */
    private static void applyDefaultReplicas(Node node, String replicas) {
        if (replicas.equals("server")) {
            return;
        }
        node.client()
            .admin()
            .cluster()
            .prepareUpdateSettings()
            .setPersistentSettings(Settings.builder().put("cluster.default_number_of_replicas", Integer.parseInt(replicas)))
            .get(TimeValue.timeValueSeconds(60));
    }

    static String defaultReplicas(String[] args) {
        String v = "0";
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--default-replicas")) {
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException("--default-replicas needs a value");
                }
                v = args[i + 1];
            }
        }
        if (!v.equals("server") && !v.matches("\\d{1,3}")) {
            throw new IllegalArgumentException("--default-replicas: want a number or 'server', got " + v);
        }
        return v;
    }

    private static boolean close(Node node, AtomicBoolean closed) {
        if (!closed.compareAndSet(false, true)) {
            return true;
        }
        try {
            node.close();
            boolean done = node.awaitClose(30, TimeUnit.SECONDS);
            System.err.println(done ? "opensearch-node: stopped" : "opensearch-node: close timed out");
            return done;
        } catch (IOException | RuntimeException e) {
            System.err.println("opensearch-node: error while closing");
            e.printStackTrace(System.err);
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    static Settings settings(String[] args) {
        String home = null;
        String httpPort = "0";
        String transportPort = "0";
        Settings.Builder extra = Settings.builder();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--default-replicas")) {
                i++; // parsed by defaultReplicas()
            } else if (a.equals("--http-port") || a.equals("--transport-port")) {
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException(a + " needs a value");
                }
                String v = args[++i];
                if (!v.matches("\\d{1,5}")) {
                    throw new IllegalArgumentException(a + ": not a port: " + v);
                }
                if (a.equals("--http-port")) {
                    httpPort = v;
                } else {
                    transportPort = v;
                }
            } else if (a.startsWith("-E")) {
                String kv = a.substring(2);
                int eq = kv.indexOf('=');
                if (eq <= 0) {
                    throw new IllegalArgumentException("expected -Ekey=value, got " + a);
                }
                extra.put(kv.substring(0, eq), kv.substring(eq + 1));
            } else if (a.startsWith("-")) {
                throw new IllegalArgumentException("unknown option " + a);
            } else if (home == null) {
                home = a;
            } else {
                throw new IllegalArgumentException("more than one HOME given");
            }
        }
        if (home == null) {
            throw new IllegalArgumentException("HOME is required");
        }

        Path homePath = Paths.get(home).toAbsolutePath().normalize();
        Path data = homePath.resolve("data");
        Path logs = homePath.resolve("logs");
        try {
            Files.createDirectories(homePath.resolve("config"));
            Files.createDirectories(data);
            Files.createDirectories(logs);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot create directories under " + homePath + ": " + e);
        }

        return Settings.builder()
            .put("path.home", homePath.toString())
            .put("path.data", data.toString())
            .put("path.logs", logs.toString())
            .put("node.name", NODE_NAME)
            .put("cluster.name", "firedrill-test")
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", httpPort)
            .put("transport.port", transportPort)
            // Test machines often have little free disk: never block writes on the disk watermarks.
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            // niofs instead of mmap: no vm.max_map_count concerns, RSS that does not count the index files.
            .put("node.store.allow_mmap", false)
            .put(extra.build())
            .build();
    }
}
