package herald.gocd;

/**
 * herald could not answer a package-repository request: it is unreachable, too slow, refused
 * the token, or answered 5xx; or, for a poll, it has no revision to give (nothing published
 * yet) and said why. The message names herald's URL and the cause; GoCD shows it to the
 * operator as it is (see HeraldPackagePlugin.trouble()).
 */
public class HeraldUnavailableException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public HeraldUnavailableException(String message) {
        super(message);
    }
}
