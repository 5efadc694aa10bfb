package firedrill.opensearchnode;

import java.util.Collection;

import org.opensearch.env.Environment;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;

/**
 * An OpenSearch {@link Node} whose plugins come from the classpath instead of a plugins/ or
 * modules/ directory of a distribution.
 *
 * <p>{@code Node(Environment)} is public but only loads plugins from disk; the protected
 * constructor (OpenSearch 2.19: {@code Node(Environment, Collection<Class<? extends Plugin>>,
 * boolean forbidPrivateIndexSettings)}) also takes plugin classes to instantiate directly, which
 * is how the server's own integration tests build nodes.
 */
final class FiredrillNode extends Node {
    FiredrillNode(Environment environment, Collection<Class<? extends Plugin>> classpathPlugins) {
        // forbidPrivateIndexSettings=true: behave like a production node (private index.* settings
        // such as index.version.created are rejected on index creation).
        super(environment, classpathPlugins, true);
    }
}
