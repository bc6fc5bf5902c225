package herald.gocd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * A folder of notifications herald has not yet acknowledged, one file per notification,
 * replayed in the order of their names.
 *
 * A file is written under a temporary name (NNN.tmp), forced to disk, renamed atomically to
 * NNN.req and the folder forced, so after a crash a file is either whole or a leftover .tmp
 * (deleted at the next start). NNN is a 20-digit sequence number that only grows. The folder
 * is bounded by a number of files and of bytes. Files herald refused for good move to
 * rejected/ (at most MAX_REJECTED, the oldest go first).
 *
 * Thread-safe: add() is called from GoCD's threads, the rest from the replay thread. Adds are
 * serialised so that a file never appears after one with a higher number.
 */
final class Spool {
    /** One spooled notification. */
    record Entry(Path file, String name, String version, String id, String body) {
    }

    /** The spool is full: the notification was not kept. */
    static final class FullException extends IOException {
        private static final long serialVersionUID = 1L;

        FullException(String message) {
            super(message);
        }
    }

    static final String SUFFIX = ".req";
    static final String TEMP_SUFFIX = ".tmp";
    static final String REJECTED = "rejected";
    static final int MAX_REJECTED = 1000;
    private static final String MAGIC = "herald-spool 1";

    private final Path dir;
    private final int maxFiles;
    private final long maxBytes;
    private final Object lock = new Object();
    // Guarded by lock.
    private boolean ready;
    private long nextSeq;
    private int files;
    private long bytes;
    private String problem;

    Spool(Path dir, int maxFiles, long maxBytes) {
        this.dir = dir;
        this.maxFiles = maxFiles;
        this.maxBytes = maxBytes;
        synchronized (lock) {
            try {
                open();
            } catch (IOException e) {
                problem = "the spool folder " + dir + " cannot be used: " + e;
            }
        }
    }

    Path dir() {
        return dir;
    }

    int maxFiles() {
        return maxFiles;
    }

    long maxBytes() {
        return maxBytes;
    }

    /** Creates the folder, deletes leftover temporary files, counts the spooled ones. */
    private void open() throws IOException {
        Files.createDirectories(dir);
        long max = 0;
        int n = 0;
        long size = 0;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                String f = p.getFileName().toString();
                if (f.endsWith(TEMP_SUFFIX)) {
                    Files.deleteIfExists(p);
                } else if (f.endsWith(SUFFIX)) {
                    long seq = seqOf(f);
                    if (seq < 0)
                        continue;
                    max = Math.max(max, seq);
                    n++;
                    size += Files.size(p);
                }
            }
        }
        nextSeq = max + 1;
        files = n;
        bytes = size;
        ready = true;
        problem = null;
    }

    private static long seqOf(String fileName) {
        String digits = fileName.substring(0, fileName.length() - SUFFIX.length());
        if (digits.length() != 20 || !digits.chars().allMatch(Character::isDigit))
            return -1;
        return Long.parseLong(digits);
    }

    /**
     * Keeps one notification durably. Throws FullException when the bound would be passed, or
     * IOException when it cannot be written; either way nothing was kept.
     */
    void add(String name, String version, String id, String body) throws IOException {
        byte[] data = encode(name, version, id, body);
        synchronized (lock) {
            if (!ready) {
                try {
                    open();
                } catch (IOException e) {
                    problem = "the spool folder " + dir + " cannot be used: " + e;
                    throw new IOException(problem, e);
                }
            }
            if (files + 1 > maxFiles || bytes + data.length > maxBytes)
                throw new FullException("the bridge's spool " + dir + " is full (" + files + " of " + maxFiles
                        + " files, " + bytes + " of " + maxBytes + " bytes)");
            long seq = nextSeq++;
            Path tmp = dir.resolve(String.format("%020d%s", seq, TEMP_SUFFIX));
            Path fin = dir.resolve(String.format("%020d%s", seq, SUFFIX));
            try {
                try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                    ByteBuffer buf = ByteBuffer.wrap(data);
                    while (buf.hasRemaining())
                        ch.write(buf);
                    ch.force(true);
                }
                move(tmp, fin);
                forceDir();
            } catch (IOException e) {
                Files.deleteIfExists(tmp);
                problem = "could not write to the spool folder " + dir + ": " + e;
                throw new IOException(problem, e);
            }
            files++;
            bytes += data.length;
            problem = null;
        }
    }

    /** The spooled files, oldest first. */
    List<Path> pending() throws IOException {
        List<Path> out = new ArrayList<>();
        if (!Files.isDirectory(dir))
            return out;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "*" + SUFFIX)) {
            for (Path p : ds)
                if (seqOf(p.getFileName().toString()) >= 0)
                    out.add(p);
        }
        out.sort(null);
        return out;
    }

    /** Reads a spooled file; IOException when it is unreadable or not in the spool's format. */
    Entry read(Path file) throws IOException {
        String text = new String(Files.readAllBytes(file), StandardCharsets.UTF_8);
        int end = text.indexOf("\n\n");
        if (end < 0)
            throw new IOException("not a spool file (no header): " + file);
        String[] lines = text.substring(0, end).split("\n");
        if (!lines[0].equals(MAGIC))
            throw new IOException("not a spool file (first line \"" + Json.clip(lines[0], 40) + "\"): " + file);
        String name = null, version = null, id = null;
        for (int i = 1; i < lines.length; i++) {
            int sp = lines[i].indexOf(' ');
            String key = sp < 0 ? lines[i] : lines[i].substring(0, sp);
            String value = sp < 0 ? "" : lines[i].substring(sp + 1);
            switch (key) {
                case "name" -> name = value;
                case "version" -> version = value.isEmpty() ? null : value;
                case "id" -> id = value.isEmpty() ? null : value;
                default -> {
                    // Unknown header lines are ignored: a later bridge may add some.
                }
            }
        }
        if (name == null || name.isEmpty())
            throw new IOException("not a spool file (no name): " + file);
        return new Entry(file, name, version, id, text.substring(end + 2));
    }

    /** Deletes a file herald acknowledged. */
    void remove(Path file) throws IOException {
        long size = Files.size(file);
        Files.delete(file);
        synchronized (lock) {
            files--;
            bytes -= size;
        }
    }

    /** Moves a file herald refused for good to rejected/, dropping the oldest beyond MAX_REJECTED. */
    void reject(Path file) throws IOException {
        long size = Files.size(file);
        Path rejected = dir.resolve(REJECTED);
        Files.createDirectories(rejected);
        move(file, rejected.resolve(file.getFileName()));
        synchronized (lock) {
            files--;
            bytes -= size;
        }
        List<Path> old = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(rejected, "*" + SUFFIX)) {
            for (Path p : ds)
                old.add(p);
        }
        if (old.size() > MAX_REJECTED) {
            old.sort(null);
            for (Path p : old.subList(0, old.size() - MAX_REJECTED))
                Files.deleteIfExists(p);
        }
    }

    boolean isEmpty() {
        synchronized (lock) {
            return files == 0;
        }
    }

    int files() {
        synchronized (lock) {
            return files;
        }
    }

    long bytes() {
        synchronized (lock) {
            return bytes;
        }
    }

    /** Why the spool cannot be written to at the moment, or null. */
    String problem() {
        synchronized (lock) {
            return problem;
        }
    }

    private static byte[] encode(String name, String version, String id, String body) {
        String header = MAGIC + "\nname " + line(name) + "\nversion " + line(version) + "\nid " + line(id) + "\n\n";
        return (header + (body == null ? "" : body)).getBytes(StandardCharsets.UTF_8);
    }

    /** A header value on one line (GoCD's names and versions never break one). */
    private static String line(String s) {
        return s == null ? "" : s.replace('\n', ' ').replace('\r', ' ');
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to);
        }
    }

    /** Makes a rename durable. Not every system can open a folder for this; then it is skipped. */
    private void forceDir() {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException e) {
            // Windows and some file systems refuse; the rename itself is still atomic.
        }
    }
}
