package citadel.bench;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.lucene.index.DocValues;
import org.apache.lucene.index.LeafReaderContext;
import org.apache.lucene.index.NumericDocValues;
import org.apache.lucene.index.SortedSetDocValues;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.Query;
import org.apache.lucene.search.ScoreMode;
import org.apache.lucene.search.SimpleCollector;

/**
 * The two aggregations the engine benchmark asks of Lucene, done the way Elasticsearch does
 * them: one collector pass over the matching documents' doc values (Anserini's jar carries
 * Lucene core but not lucene-facet). Results go back to Python as "key\tcount\n" lines, one
 * call per request.
 */
public final class Aggs {
  private Aggs() {}

  /** A terms aggregation: the `size` most frequent values of a keyword field, count order. */
  public static String terms(IndexSearcher searcher, Query query, String field, int size)
      throws IOException {
    TermsCollector collector = new TermsCollector(field);
    searcher.search(query, collector);
    collector.flush();
    List<Map.Entry<String, Long>> entries = new ArrayList<>(collector.counts.entrySet());
    entries.sort(
        (a, b) -> a.getValue().equals(b.getValue())
            ? a.getKey().compareTo(b.getKey())
            : Long.compare(b.getValue(), a.getValue()));
    StringBuilder out = new StringBuilder();
    for (Map.Entry<String, Long> e : entries.subList(0, Math.min(size, entries.size()))) {
      out.append(e.getKey()).append('\t').append(e.getValue()).append('\n');
    }
    return out.toString();
  }

  /** A fixed-interval histogram of a long field (a date as epoch milliseconds). */
  public static String histogram(IndexSearcher searcher, Query query, String field, long interval)
      throws IOException {
    HistogramCollector collector = new HistogramCollector(field, interval);
    searcher.search(query, collector);
    StringBuilder out = new StringBuilder();
    for (Map.Entry<Long, long[]> e : collector.counts.entrySet()) {
      out.append(e.getKey()).append('\t').append(e.getValue()[0]).append('\n');
    }
    return out.toString();
  }

  private static final class TermsCollector extends SimpleCollector {
    final Map<String, Long> counts = new HashMap<>();
    private final String field;
    private SortedSetDocValues values;
    private long[] perOrd = new long[0];

    TermsCollector(String field) {
      this.field = field;
    }

    @Override
    protected void doSetNextReader(LeafReaderContext context) throws IOException {
      flush();
      values = DocValues.getSortedSet(context.reader(), field);
      perOrd = new long[(int) values.getValueCount()];
    }

    @Override
    public void collect(int doc) throws IOException {
      if (values.advanceExact(doc)) {
        for (int i = 0; i < values.docValueCount(); i++) {
          perOrd[(int) values.nextOrd()]++;
        }
      }
    }

    void flush() throws IOException {
      for (int ord = 0; ord < perOrd.length; ord++) {
        if (perOrd[ord] > 0) {
          counts.merge(values.lookupOrd(ord).utf8ToString(), perOrd[ord], Long::sum);
        }
      }
      perOrd = new long[0];
    }

    @Override
    public ScoreMode scoreMode() {
      return ScoreMode.COMPLETE_NO_SCORES;
    }
  }

  private static final class HistogramCollector extends SimpleCollector {
    final Map<Long, long[]> counts = new java.util.TreeMap<>();
    private final String field;
    private final long interval;
    private NumericDocValues values;

    HistogramCollector(String field, long interval) {
      this.field = field;
      this.interval = interval;
    }

    @Override
    protected void doSetNextReader(LeafReaderContext context) throws IOException {
      values = DocValues.getNumeric(context.reader(), field);
    }

    @Override
    public void collect(int doc) throws IOException {
      if (values.advanceExact(doc)) {
        long key = Math.floorDiv(values.longValue(), interval) * interval;
        counts.computeIfAbsent(key, k -> new long[1])[0]++;
      }
    }

    @Override
    public ScoreMode scoreMode() {
      return ScoreMode.COMPLETE_NO_SCORES;
    }
  }
}
