// Makes the local broker's SCRAM users and ACLs what crm-stack asks for, through Kafka's own
// Java Admin client (aiokafka has no call for SCRAM users or ACLs). Run by crm-stack with the
// broker's jars on the class path, as a single source file (java StackSecurity.java ...):
//
//   java -cp '<libs>/*' StackSecurity.java <admin-client.properties> <wanted.txt>
//
// The client properties connect as the stack's admin (the only super user) with SASL PLAIN and
// the admin's static password (the broker listener accepts PLAIN for the admin alone), so this
// works on a data dir that has no SCRAM user yet (one formatted by an older crm-stack). The
// controller listener would not do: the admin API refuses SCRAM changes sent to a controller.
// wanted.txt holds lines "user <name> <password>" and
// "acl <principal> <TOPIC|GROUP|CLUSTER> <LITERAL|PREFIXED> <resource> <operation>".
// Every user listed gets its SCRAM-SHA-512 credential set (upsert). For every principal listed,
// the ALLOW rules become exactly those listed: missing ones are created, others removed.
// ACLs of principals not listed are left alone.

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialAlteration;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

public class StackSecurity {
    private static final int ITERATIONS = 8192;

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: StackSecurity <admin-client.properties> <wanted.txt>");
            System.exit(2);
        }
        Properties props = new Properties();
        try (var reader = Files.newBufferedReader(Path.of(args[0]))) {
            props.load(reader);
        }
        List<UserScramCredentialAlteration> users = new ArrayList<>();
        Set<AclBinding> wanted = new HashSet<>();
        Set<String> principals = new HashSet<>();
        for (String raw : Files.readAllLines(Path.of(args[1]))) {
            String line = raw.strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            String[] f = line.split("\\s+");
            if (f[0].equals("user") && f.length == 3) {
                users.add(new UserScramCredentialUpsertion(
                    f[1], new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, ITERATIONS), f[2]));
                principals.add("User:" + f[1]);
            } else if (f[0].equals("acl") && f.length == 6) {
                String principal = "User:" + f[1];
                principals.add(principal);
                wanted.add(new AclBinding(
                    new ResourcePattern(
                        ResourceType.valueOf(f[2]), f[4], PatternType.valueOf(f[3])),
                    new AccessControlEntry(
                        principal, "*", AclOperation.valueOf(f[5]), AclPermissionType.ALLOW)));
            } else {
                throw new IllegalArgumentException("cannot read line: " + line.split("\\s+")[0]);
            }
        }
        try (Admin admin = Admin.create(props)) {
            if (!users.isEmpty()) {
                admin.alterUserScramCredentials(users).all().get(120, TimeUnit.SECONDS);
            }
            Set<AclBinding> present = new HashSet<>(
                admin.describeAcls(AclBindingFilter.ANY).values().get(120, TimeUnit.SECONDS));
            List<AclBinding> create = new ArrayList<>();
            for (AclBinding binding : wanted) {
                if (!present.contains(binding)) {
                    create.add(binding);
                }
            }
            List<AclBindingFilter> remove = new ArrayList<>();
            for (AclBinding binding : present) {
                if (principals.contains(binding.entry().principal()) && !wanted.contains(binding)) {
                    remove.add(binding.toFilter());
                }
            }
            if (!create.isEmpty()) {
                admin.createAcls(create).all().get(120, TimeUnit.SECONDS);
            }
            if (!remove.isEmpty()) {
                admin.deleteAcls(remove).all().get(120, TimeUnit.SECONDS);
            }
            System.out.printf(
                "users %d set; acls %d wanted, %d created, %d removed%n",
                users.size(), wanted.size(), create.size(), remove.size());
        }
    }
}
