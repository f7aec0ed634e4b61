"use client";
import { clampReplicas, MAX_REPLICAS_INPUT } from "../_lib/replicas";

/**
 * "Replicas" label with a number input, clamped to 1…MAX_REPLICAS_INPUT as the user types. The
 * value shown may be a default that follows the network's capacity; focusing the input adopts it as
 * the user's own, so a capacity answer arriving mid-edit cannot rewrite the field under the caret
 * (typing "1" over a default that just changed from 3 to 1 used to give "11").
 */
export function ReplicasInput(props: {
  value: number;
  onChange: (replicas: number) => void;
  testId: string;
  /** Layout of the label (inline or block) and of the input (width, spacing). */
  labelClassName: string;
  inputClassName: string;
}) {
  return (
    <label className={`text-sm ${props.labelClassName}`}>
      Replicas
      <input
        type="number"
        min={1}
        max={MAX_REPLICAS_INPUT}
        value={props.value}
        data-testid={props.testId}
        onFocus={() => props.onChange(props.value)}
        onChange={(e) => props.onChange(clampReplicas(e.target.value))}
        className={`rounded-md border border-slate-300 bg-transparent px-2 py-1 dark:border-slate-700 ${props.inputClassName}`}
      />
    </label>
  );
}
