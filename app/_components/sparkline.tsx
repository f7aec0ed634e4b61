/** A tiny inline SVG line chart of a metric history; no chart library needed for a trend line. */
export function Sparkline(props: {
  values: number[];
  label: string;
  format: (v: number) => string;
  /** Fixed upper bound (e.g. 100 for percent); defaults to the data's maximum. */
  max?: number;
  testId?: string;
}) {
  const { values } = props;
  const width = 240;
  const height = 48;
  const last = values.at(-1);
  const top = Math.max(props.max ?? 0, ...values, 1e-9);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const points = values.map(
    (v, i) => `${(i * step).toFixed(1)},${(height - (v / top) * (height - 4) - 2).toFixed(1)}`,
  );
  const area = points.length > 1 ? `M0,${height} L${points.join(" L")} L${width},${height} Z` : "";
  return (
    <figure
      data-testid={props.testId}
      className="rounded-lg border border-slate-200 p-3 dark:border-slate-800 dark:bg-slate-900/40"
    >
      <figcaption className="flex items-baseline justify-between text-xs text-slate-500">
        <span>{props.label}</span>
        <span className="text-sm font-semibold tabular-nums text-slate-900 dark:text-slate-100">
          {last === undefined ? "—" : props.format(last)}
        </span>
      </figcaption>
      {values.length > 1 ? (
        <svg
          viewBox={`0 0 ${width} ${height}`}
          preserveAspectRatio="none"
          className="mt-2 h-12 w-full text-sky-500"
          role="img"
          aria-label={`${props.label} over time`}
        >
          <path d={area} className="fill-sky-500/15" />
          <polyline
            points={points.join(" ")}
            fill="none"
            stroke="currentColor"
            strokeWidth="1.5"
            vectorEffect="non-scaling-stroke"
          />
        </svg>
      ) : (
        <div className="mt-2 flex h-12 items-center text-xs text-slate-600 dark:text-slate-400">
          waiting for samples…
        </div>
      )}
    </figure>
  );
}

export type TMetricSample = {
  cpuPct: number;
  memUsedMb: number;
  diskUsedGb: number;
  netRx: number;
  netTx: number;
};

/** Four sparklines (CPU, memory, disk, network) for an instance or node history. */
export function MetricCharts({
  history,
  memoryMb,
  diskGb,
}: {
  history: TMetricSample[];
  memoryMb?: number;
  diskGb?: number;
}) {
  const net = history.map((h) => h.netRx + h.netTx);
  return (
    <div className="grid grid-cols-1 gap-3 sm:grid-cols-2 lg:grid-cols-4" data-testid="metric-charts">
      <Sparkline
        label="CPU"
        values={history.map((h) => h.cpuPct)}
        max={100}
        format={(v) => `${v.toFixed(0)}%`}
      />
      <Sparkline
        label="Memory"
        values={history.map((h) => h.memUsedMb)}
        {...(memoryMb ? { max: memoryMb } : {})}
        format={(v) => `${v.toFixed(0)} MB`}
      />
      <Sparkline
        label="Disk"
        values={history.map((h) => h.diskUsedGb)}
        {...(diskGb ? { max: diskGb } : {})}
        format={(v) => `${v.toFixed(1)} GB`}
      />
      <Sparkline label="Network (rx+tx)" values={net} format={formatRate} />
    </div>
  );
}

function formatRate(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(1)} MB/s`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)} kB/s`;
  return `${v.toFixed(0)} B/s`;
}
