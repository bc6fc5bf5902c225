package herald.gocd;

import com.thoughtworks.go.plugin.api.logging.Logger;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * The thread that sends the spool to herald, oldest first, one notification at a time. A file
 * is deleted only once herald acknowledged it (2xx with {"status":"success"}). While herald is
 * down or answers with a passing trouble (see isTransient) it waits, doubling the pause up to
 * BridgeConfig.retryMaxMs, and wakes at once when another part of the bridge sees herald
 * answer. Any other answer (a 200 failure for a bad body, a 404, a 413...) is final: the file
 * moves to the spool's rejected/ folder and the replay goes on.
 */
final class Replayer {
    private static final Logger LOG = Logger.getLoggerFor(Replayer.class);
    private static final long IDLE_WAIT_MS = 60_000;

    private enum Outcome { EMPTY, PROGRESS, RETRY }

    private final Spool spool;
    private final HeraldClient client;
    private final int retryMaxMs;
    private final Object signal = new Object();
    // Guarded by signal.
    private boolean work;
    private boolean heraldUp;
    private boolean stopped;
    private Thread thread;
    private volatile String lastProblem;

    Replayer(Spool spool, HeraldClient client, int retryMaxMs) {
        this.spool = spool;
        this.client = client;
        this.retryMaxMs = Math.max(retryMaxMs, 10);
    }

    /** True for the answers the bridge keeps a notification for and tries again: herald is
     *  overloaded or cannot store (5xx, 429, 408), or refuses the token (401, 403), which an
     *  operator fixes without the notification being at fault. */
    static boolean isTransient(int status) {
        return status >= 500 || status == 401 || status == 403 || status == 408 || status == 429;
    }

    synchronized void start() {
        if (thread != null)
            return;
        thread = new Thread(this::run, "herald-bridge-replay");
        thread.setDaemon(true);
        thread.start();
    }

    /** Stops the thread; a notification being sent is finished or left in the spool. */
    void stop() {
        Thread t;
        synchronized (this) {
            t = thread;
        }
        synchronized (signal) {
            stopped = true;
            signal.notifyAll();
        }
        if (t != null) {
            try {
                t.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Something was spooled. */
    void workAdded() {
        synchronized (signal) {
            work = true;
            signal.notifyAll();
        }
    }

    /** herald just answered someone: try the spool now rather than after the pause. */
    void heraldAnswered() {
        synchronized (signal) {
            heraldUp = true;
            signal.notifyAll();
        }
    }

    /** Why the last replay attempt failed, or null after a success. */
    String lastProblem() {
        return lastProblem;
    }

    private boolean stopped() {
        synchronized (signal) {
            return stopped;
        }
    }

    private void run() {
        long pause = 0;
        while (!stopped()) {
            Outcome o;
            try {
                o = drain();
            } catch (IOException | RuntimeException e) {
                LOG.error("herald bridge: replaying the spool " + spool.dir() + " failed", e);
                o = Outcome.RETRY;
            }
            switch (o) {
                case EMPTY -> {
                    pause = 0;
                    await(IDLE_WAIT_MS, true);
                }
                case PROGRESS -> pause = 0;
                case RETRY -> {
                    pause = pause == 0 ? 100 : Math.min(pause * 2, retryMaxMs);
                    await(pause, false);
                }
            }
        }
    }

    /** Waits for ms, or until herald is seen answering, or (when onWork) something is spooled. */
    private void await(long ms, boolean onWork) {
        synchronized (signal) {
            long deadline = System.currentTimeMillis() + ms;
            while (!stopped && !heraldUp && !(onWork && work)) {
                long left = deadline - System.currentTimeMillis();
                if (left <= 0)
                    break;
                try {
                    signal.wait(left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    stopped = true;
                }
            }
            work = false;
            heraldUp = false;
        }
    }

    /** Sends what is in the spool now, in order, until it is empty or herald stops taking it. */
    private Outcome drain() throws IOException {
        List<Path> files = spool.pending();
        if (files.isEmpty())
            return Outcome.EMPTY;
        for (Path f : files) {
            if (stopped())
                return Outcome.RETRY;
            Spool.Entry e;
            try {
                e = spool.read(f);
            } catch (IOException ex) {
                LOG.error("herald bridge: " + ex.getMessage() + "; moved to " + Spool.REJECTED + "/");
                spool.reject(f);
                continue;
            }
            HeraldClient.Answer a;
            try {
                a = client.notification(e.name(), e.version(), e.body(), e.id());
            } catch (IOException ex) {
                lastProblem = "herald at " + client.baseUrl() + " is unreachable: " + HeraldClient.reason(ex);
                return Outcome.RETRY;
            }
            if (a.acknowledged()) {
                spool.remove(f);
                lastProblem = null;
            } else if (isTransient(a.status())) {
                lastProblem = "herald answered " + a.status() + ": " + Json.clip(a.body(), 200);
                return Outcome.RETRY;
            } else {
                LOG.warn("herald bridge: herald refused the spooled " + e.name() + " " + f.getFileName()
                        + " for good (" + a.status() + ": " + Json.clip(a.body(), 300) + "); moved to "
                        + spool.dir().resolve(Spool.REJECTED));
                spool.reject(f);
                lastProblem = null;
            }
        }
        return Outcome.PROGRESS;
    }
}
