{#- Rows whose combination of `columns` is not unique (dbt_utils' test, written here: the
    package hub is out of reach, and a dependency that cannot be installed is none). -#}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as copies
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
