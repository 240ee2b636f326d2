package dev.dtgraph.neo4j;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.neo4j.configuration.Config;
import org.neo4j.configuration.GraphDatabaseInternalSettings;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.graphdb.Result;
import org.neo4j.graphdb.Transaction;
import org.neo4j.graphdb.config.Setting;
import org.neo4j.io.ByteUnit;
import org.neo4j.logging.Level;
import org.neo4j.logging.log4j.Log4jLogProvider;

/**
 * Runs Neo4j Community embedded with its Bolt connector, for dtgraph's tests and developers.
 *
 * <pre>
 * java [jvm.options] -cp target/classes:$(cat target/classpath.txt) dev.dtgraph.neo4j.Launcher \
 *     [--port 7687] [--host 127.0.0.1] [--data DIR] [--password PW | --no-auth] [--pagecache 1g]
 *     [--setting name=value]... [--warm-up TWINS]
 * </pre>
 *
 * Each option falls back to an environment variable (DTGRAPH_NEO4J_PORT, _HOST, _DATA, _PASSWORD, _PAGECACHE;
 * DTGRAPH_NEO4J_AUTH=none disables auth). {@code --setting} sets any Neo4j setting (as in neo4j.conf) and wins over
 * the launcher's own. {@code --warm-up N} runs, before the server is ready, what an import of N twins with three
 * relationships each makes Neo4j do (see {@link #warmUp}), so that a server just started imports at the speed of
 * one that has run for a while. With auth enabled, the user {@code neo4j} gets the password given
 * (default {@value #DEV_PASSWORD}) at every start. Once Bolt accepts connections the launcher prints one line
 * starting with {@value #READY}; SIGTERM (or Ctrl-C) shuts the DBMS down cleanly and exits 0. Errors print one
 * line starting with {@value #FAILED} and exit 1.
 */
public final class Launcher {
    static final String READY = "dtgraph-neo4j: ready";
    static final String FAILED = "dtgraph-neo4j: failed";
    static final String DEV_PASSWORD = "dtgraph-dev";
    static final String USER = "neo4j";
    static final String WARM_UP = "DtgraphWarmup";
    static final String WARM_UP_STAGED = "DtgraphWarmupStaged";

    private Launcher() {}

    public static void main(String[] args) {
        try {
            run(Options.parse(args, System.getenv()));
        } catch (UsageException e) {
            System.err.println("dtgraph-neo4j: " + e.getMessage());
            System.err.println("usage: Launcher [--port N] [--host ADDR] [--data DIR] [--password PW | --no-auth]"
                    + " [--pagecache SIZE] [--setting NAME=VALUE]... [--warm-up TWINS]");
            System.exit(2);
        } catch (Throwable e) {
            Throwable cause = e;
            while (cause.getCause() != null && cause.getCause() != cause) {
                cause = cause.getCause();
            }
            e.printStackTrace(System.out);
            // Last, so that the tail of the log that scripts/neo4j shows ends with the reason.
            System.out.println(FAILED + ": " + e.getMessage() + (cause == e ? "" : " (cause: " + cause + ")"));
            System.out.flush();
            System.exit(1); // the shutdown hook, once registered, closes what did start
        }
    }

    private static void run(Options options) throws Exception {
        Path home = options.data.toAbsolutePath();
        Files.createDirectories(home);
        System.out.printf("dtgraph-neo4j: starting Neo4j %s in %s, Bolt on %s:%d, auth %s%n",
                neo4jVersion(), home, options.host, options.port,
                options.password == null ? "disabled" : "enabled (user " + USER + ")");

        long started = System.nanoTime();
        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(home)
                .setUserLogProvider(new Log4jLogProvider(System.out, Level.INFO))
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress(options.host, options.port))
                .setConfig(BoltConnector.advertised_address, new SocketAddress(options.host, options.port))
                .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
                .setConfig(GraphDatabaseSettings.auth_enabled, options.password != null)
                .setConfig(GraphDatabaseSettings.pagecache_memory, options.pageCache)
                .setConfig(GraphDatabaseSettings.udc_enabled, false)
                .setConfig(GraphDatabaseSettings.preallocate_logical_logs, false)
                .setConfig(GraphDatabaseSettings.keep_logical_logs, "2 files")
                // A quick stop: Bolt's defaults wait 5 s of quiet per connector and up to 5 min for open clients.
                .setConfig(GraphDatabaseInternalSettings.netty_server_shutdown_quiet_period, 0)
                .setConfig(BoltConnectorInternalSettings.connection_shutdown_wait_time, Duration.ofSeconds(2))
                .setConfig(parsed(options.settings))
                .build();

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("dtgraph-neo4j: shutting down");
            dbms.shutdown();
            System.out.println("dtgraph-neo4j: stopped");
            System.out.flush();
            stopped.countDown();
        }, "dtgraph-neo4j-shutdown"));

        if (options.password != null) {
            setPassword(dbms.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME), options.password);
        }
        GraphDatabaseService db = dbms.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME);
        db.executeTransactionally("RETURN 1");
        removeWarmUp(db); // what a warm-up left when the server stopped halfway through it
        if (options.warmUp > 0) {
            long warming = System.nanoTime();
            warmUp(db, options.warmUp);
            System.out.printf("dtgraph-neo4j: warmed up (%d twins, %.1f s)%n", options.warmUp,
                    (System.nanoTime() - warming) / 1e9);
        }
        awaitPort(options.host, options.port, Duration.ofSeconds(60));
        if (options.owner > 0) {
            // a server started for another process (a test run) stops with it, even when that process was
            // killed before it could stop the server: through the shutdown hook, a clean shutdown
            ProcessHandle.of(options.owner).ifPresentOrElse(
                    owner -> owner.onExit().thenRun(() -> {
                        System.out.printf("dtgraph-neo4j: owner process %d has ended%n", options.owner);
                        System.exit(0);
                    }),
                    () -> {
                        System.out.printf("dtgraph-neo4j: owner process %d is not running%n", options.owner);
                        System.exit(0);
                    });
        }

        System.out.printf("%s: bolt://%s:%d (Neo4j %s community, %.1f s)%n", READY, options.host, options.port,
                neo4jVersion(), (System.nanoTime() - started) / 1e9);
        System.out.flush();
        stopped.await();
    }

    /**
     * Makes the JVM compile the code paths of a dtgraph import before the first client comes: its statements'
     * shapes (twins created under a staging label with a literal property map, relationships created between
     * nodes found by id, then a relabel per batch of rows), on nodes of a label of its own with a uniqueness
     * constraint and an index like a twin's, all deleted again (so are the constraint and the index; only the
     * tokens stay). A server that stopped halfway deletes the rest at its next start.
     */
    private static void warmUp(GraphDatabaseService db, int twins) {
        String staged = WARM_UP_STAGED;
        String warm = WARM_UP;
        db.executeTransactionally(
                "CREATE CONSTRAINT dtgraph_warmup_id IF NOT EXISTS FOR (n:" + warm + ") REQUIRE n.id IS UNIQUE");
        db.executeTransactionally("CREATE INDEX dtgraph_warmup_model IF NOT EXISTS FOR (n:" + warm + ") ON (n.model)");
        db.executeTransactionally("CALL db.awaitIndexes(300)");
        int batch = 5000;
        String json = "{\"name\":\"a warm-up twin\",\"status\":\"running\",\"bufferHours\":12.5,"
                + "\"location\":{\"lat\":1.5}}";
        for (int start = 0; start < twins; start += batch) {
            List<List<Object>> rows = new ArrayList<>();
            for (int i = start; i < Math.min(twins, start + batch); i++) {
                rows.add(Arrays.asList("warm-" + i, "dtmi:dtgraph:Warmup;1", json, "twin " + i, i % 2 == 0, (long) i,
                        i / 3.0, i % 5 == 0 ? null : "ok", "object"));
            }
            List<Object> nodes = new ArrayList<>();
            try (Transaction tx = db.beginTx();
                    Result result = tx.execute("UNWIND $rows AS row CREATE (s:" + staged
                            + " {id: row[0], model: row[1], json: row[2], p_name: row[3], p_on: row[4], "
                            + "p_n: row[5], p_x: row[6], p_s: row[7], x_location: row[8]}) "
                            + "RETURN collect(row[0]) AS ids, collect(id(s)) AS nodes",
                            Map.of("rows", rows))) {
                nodes.addAll((List<?>) result.next().get("nodes"));
                result.close();
                List<Map<String, Object>> groups = new ArrayList<>();
                for (int i = 0; i < nodes.size(); i++) {
                    List<List<Object>> rels = new ArrayList<>();
                    for (int k = 1; k <= 3; k++) {
                        rels.add(Arrays.asList(nodes.get((i + k * 7) % nodes.size()), "r" + k,
                                k == 1 ? null : "{\"leadTimeHours\":4}"));
                    }
                    groups.add(Map.of("s", nodes.get(i), "r", rels));
                }
                tx.execute("UNWIND $groups AS g MATCH (s) WHERE id(s) = g.s "
                        + "UNWIND g.r AS row MATCH (t) WHERE id(t) = row[0] "
                        + "CREATE (s)-[:DTGRAPH_WARMUP {id: row[1], json: row[2]}]->(t) RETURN count(*) AS n",
                        Map.of("groups", groups)).close();
                tx.commit();
            }
        }
        db.executeTransactionally("MATCH (s:" + staged + ") CALL (s) { SET s:" + warm + " REMOVE s:" + staged
                + ", s._replaces } IN TRANSACTIONS OF 10000 ROWS");
        removeWarmUp(db);
    }

    private static void removeWarmUp(GraphDatabaseService db) {
        for (String label : new String[] {WARM_UP_STAGED, WARM_UP}) {
            db.executeTransactionally(
                    "MATCH (n:" + label + ") CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS");
        }
        db.executeTransactionally("DROP CONSTRAINT dtgraph_warmup_id IF EXISTS");
        db.executeTransactionally("DROP INDEX dtgraph_warmup_model IF EXISTS");
    }

    /** Settings given by name and value as text, checked and parsed by Neo4j (an unknown name fails). */
    private static Map<Setting<?>, Object> parsed(Map<String, String> raw) {
        Config config = Config.newBuilder().setRaw(raw).build();
        Map<Setting<?>, Object> values = new HashMap<>();
        for (Setting<Object> setting : config.getDeclaredSettings().values()) {
            if (config.isExplicitlySet(setting)) {
                values.put(setting, config.get(setting));
            }
        }
        return values;
    }

    /** Gives {@link #USER} the password and clears the "change required" flag of a new store. */
    private static void setPassword(GraphDatabaseService system, String password) {
        boolean needsChange;
        try (Transaction tx = system.beginTx();
                Result result = tx.execute(
                        "SHOW USERS YIELD user, passwordChangeRequired WHERE user = $user "
                                + "RETURN passwordChangeRequired",
                        Map.of("user", USER))) {
            needsChange = !result.hasNext() || (Boolean) result.next().get("passwordChangeRequired");
        }
        try {
            system.executeTransactionally("ALTER USER " + USER + " SET PASSWORD $password CHANGE NOT REQUIRED",
                    Map.of("password", password));
        } catch (RuntimeException e) {
            // Neo4j refuses to "change" a password to the one it already has: that is the state we want.
            String message = String.valueOf(e.getMessage());
            if (needsChange || !message.contains("Old password and new password cannot be the same")) {
                throw e;
            }
        }
    }

    private static void awaitPort(String host, int port, Duration timeout) throws InterruptedException, IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            try (Socket socket = new Socket()) {
                socket.connect(new InetSocketAddress(host, port), 1000);
                return;
            } catch (IOException e) {
                if (System.nanoTime() > deadline) {
                    throw new IOException("Bolt is not accepting connections on " + host + ":" + port, e);
                }
                TimeUnit.MILLISECONDS.sleep(100);
            }
        }
    }

    private static String neo4jVersion() {
        String version = DatabaseManagementService.class.getPackage().getImplementationVersion();
        return version == null ? "5.x" : version;
    }

    static final class UsageException extends Exception {
        UsageException(String message) {
            super(message);
        }
    }

    record Options(String host, int port, Path data, String password, long pageCache, Map<String, String> settings,
            int warmUp, long owner) {
        static Options parse(String[] args, Map<String, String> env) throws UsageException {
            String host = env.getOrDefault("DTGRAPH_NEO4J_HOST", "127.0.0.1");
            String port = env.getOrDefault("DTGRAPH_NEO4J_PORT", "7687");
            String data = env.getOrDefault("DTGRAPH_NEO4J_DATA", "data");
            String password = env.getOrDefault("DTGRAPH_NEO4J_PASSWORD", DEV_PASSWORD);
            if ("none".equals(env.get("DTGRAPH_NEO4J_AUTH"))) {
                password = null;
            }
            String pageCache = env.getOrDefault("DTGRAPH_NEO4J_PAGECACHE", "1g");
            Map<String, String> settings = new LinkedHashMap<>();
            String warmUp = env.getOrDefault("DTGRAPH_NEO4J_WARM_UP", "0");
            String owner = env.getOrDefault("DTGRAPH_NEO4J_OWNER", "0");
            for (int i = 0; i < args.length; i++) {
                String arg = args[i];
                switch (arg) {
                    case "--host" -> host = value(args, ++i, arg);
                    case "--port" -> port = value(args, ++i, arg);
                    case "--data" -> data = value(args, ++i, arg);
                    case "--password" -> password = value(args, ++i, arg);
                    case "--no-auth" -> password = null;
                    case "--pagecache" -> pageCache = value(args, ++i, arg);
                    case "--warm-up" -> warmUp = value(args, ++i, arg);
                    case "--owner" -> owner = value(args, ++i, arg);
                    case "--setting" -> {
                        String setting = value(args, ++i, arg);
                        int equals = setting.indexOf('=');
                        if (equals < 1) {
                            throw new UsageException("--setting needs NAME=VALUE, not " + setting);
                        }
                        settings.put(setting.substring(0, equals).trim(), setting.substring(equals + 1).trim());
                    }
                    default -> throw new UsageException("unknown argument " + arg);
                }
            }
            int portNumber;
            try {
                portNumber = Integer.parseInt(port);
            } catch (NumberFormatException e) {
                throw new UsageException("port " + port + " is not a number");
            }
            if (portNumber < 1 || portNumber > 65535) {
                throw new UsageException("port " + port + " is not between 1 and 65535");
            }
            if (password != null && password.length() < 8) {
                throw new UsageException("Neo4j 5 needs a password of at least 8 characters");
            }
            long pageCacheBytes;
            try {
                pageCacheBytes = ByteUnit.parse(pageCache);
            } catch (IllegalArgumentException e) {
                throw new UsageException("page cache size " + pageCache + " is not a size such as 512m or 1g");
            }
            int warmUpTwins;
            try {
                warmUpTwins = Integer.parseInt(warmUp);
            } catch (NumberFormatException e) {
                throw new UsageException("warm-up " + warmUp + " is not a number of twins");
            }
            long ownerPid;
            try {
                ownerPid = Long.parseLong(owner);
            } catch (NumberFormatException e) {
                throw new UsageException("owner " + owner + " is not a process id");
            }
            return new Options(host, portNumber, Path.of(data), password, pageCacheBytes, settings, warmUpTwins,
                    ownerPid);
        }

        private static String value(String[] args, int i, String name) throws UsageException {
            if (i >= args.length) {
                throw new UsageException(name + " needs a value");
            }
            return args[i];
        }
    }
}
