{#
  Trino's Glue catalog makes tables only in a schema that has a location: when
  TRADELAKE_DBT_SCHEMA_LOCATION gives one, the models' schema is created with it (dbt-athena
  creates its database itself, under s3_data_dir).
#}
{% macro trino__create_schema(relation) -%}
  {%- set location = env_var('TRADELAKE_DBT_SCHEMA_LOCATION', '') -%}
  {%- call statement('create_schema') -%}
    create schema if not exists {{ relation.without_identifier() }}
    {%- if location %} with (location = '{{ location }}'){% endif %}
  {%- endcall -%}
{% endmacro %}
