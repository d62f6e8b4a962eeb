// What CloudFormation's AllowedPattern makes of values: CloudFormation reads
// the pattern as a Java regular expression (java.util.regex), so this is the
// engine that judges hasg's patterns. Input on stdin: the pattern on the first
// line, then one value per line; output: one line per value, 1 if the whole
// value matches, else 0.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.regex.Pattern;

public class JavaPatterns {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        Pattern pattern = Pattern.compile(in.readLine());
        StringBuilder out = new StringBuilder();
        for (String value = in.readLine(); value != null; value = in.readLine()) {
            out.append(pattern.matcher(value).matches() ? "1\n" : "0\n");
        }
        System.out.print(out);
    }
}
