{#- Values outside the contract's range: above `above` (exclusive), below `below`
    (exclusive) or at most `at_most` (inclusive). Nulls are not_null's business. -#}
{% test within_bounds(model, column_name, above=none, below=none, at_most=none) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
  and (
    false
    {%- if above is not none %} or {{ column_name }} <= {{ above }}{% endif %}
    {%- if below is not none %} or {{ column_name }} >= {{ below }}{% endif %}
    {%- if at_most is not none %} or {{ column_name }} > {{ at_most }}{% endif %}
  )
{% endtest %}
